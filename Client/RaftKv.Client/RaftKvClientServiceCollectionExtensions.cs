using Microsoft.Extensions.DependencyInjection;

namespace RaftKv.Client;

public static class RaftKvClientServiceCollectionExtensions
{
    /// <summary>Registers one shared <see cref="RaftKvClient"/> (a singleton); the options are validated here.</summary>
    public static IServiceCollection AddRaftKvClient(this IServiceCollection services, Action<RaftKvClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new RaftKvClientOptions();
        configure(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid RaftKv client options: " + string.Join(" ", errors), nameof(configure));
        services.AddSingleton(options);
        services.AddSingleton(provider => new RaftKvClient(options, provider.GetService<TimeProvider>()));
        return services;
    }
}
