using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RaftKv.Node;

namespace RaftKv.Grains;

public static class RaftKvSiloBuilderExtensions
{
    /// <summary>
    /// Adds RaftKv's grains to a silo: the RaftNode grain service (one per silo), its client, the node directory and
    /// leader router, the session, registrar and KV grains. The host must register the local <see cref="IRaftKvNode"/>
    /// and start it before the silo; a <see cref="TimeProvider"/> (the system clock) is added unless one is registered.
    /// </summary>
    public static ISiloBuilder AddRaftKvGrains(this ISiloBuilder builder, Action<OptionsBuilder<RaftKvGrainOptions>>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddGrainService<RaftNodeService>();
        IServiceCollection services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        OptionsBuilder<RaftKvGrainOptions> options = services.AddOptions<RaftKvGrainOptions>();
        configure?.Invoke(options);
        options.ValidateOnStart();
        // Every problem, each naming its setting (a bare predicate could only say "invalid").
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RaftKvGrainOptions>, GrainOptionsValidator>());
        services.TryAddSingleton<IRaftNodeServiceClient, RaftNodeServiceClient>();
        services.TryAddSingleton<RaftNodeDirectory>();
        services.TryAddSingleton<RaftLeaderRouter>();
        services.TryAddSingleton<KvGrainSessions>();
        return builder;
    }

    private sealed class GrainOptionsValidator : IValidateOptions<RaftKvGrainOptions>
    {
        public ValidateOptionsResult Validate(string? name, RaftKvGrainOptions options)
        {
            IReadOnlyList<string> errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
