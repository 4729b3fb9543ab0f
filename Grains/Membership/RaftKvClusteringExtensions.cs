using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Hosting;
using Orleans.Messaging;

namespace RaftKv.Grains.Membership;

/// <summary>Hosting extensions: Orleans clustering on the RaftKv cluster's own store.</summary>
public static class RaftKvClusteringExtensions
{
    /// <summary>
    /// Keeps the silo's membership table in the RaftKv store reached through <see cref="RaftKvClusteringOptions.Endpoints"/>.
    /// The RaftKv node runtime and its client gateway must be serving before the Orleans silo starts.
    /// </summary>
    public static ISiloBuilder UseRaftKvClustering(this ISiloBuilder builder, Action<RaftKvClusteringOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddRaftKvMembershipTable(configure);
        builder.Services.AddSingleton<IMembershipTable>(sp => sp.GetRequiredService<RaftKvMembershipTable>());
        return builder;
    }

    /// <summary>Finds the cluster's gateways in the Raft-backed membership table.</summary>
    public static IClientBuilder UseRaftKvClustering(this IClientBuilder builder, Action<RaftKvClusteringOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.AddRaftKvMembershipTable(configure);
        builder.Services.AddSingleton<IGatewayListProvider, RaftKvGatewayListProvider>();
        return builder;
    }

    private static void AddRaftKvMembershipTable(this IServiceCollection services, Action<RaftKvClusteringOptions> configure)
    {
        services.AddOptions<RaftKvClusteringOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RaftKvClusteringOptions>, RaftKvClusteringOptionsValidator>());
        services.TryAddSingleton<RaftKvMembershipTable>();
    }

    private sealed class RaftKvClusteringOptionsValidator : IValidateOptions<RaftKvClusteringOptions>
    {
        public ValidateOptionsResult Validate(string? name, RaftKvClusteringOptions options)
        {
            IReadOnlyList<string> errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
