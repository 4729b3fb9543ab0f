using RaftKv.Node;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace RaftKv.ClientGateway;

public static class KvGatewayExtensions
{
    /// <summary>
    /// Registers the client gateway. The host must also register the local <see cref="IRaftKvNode"/>; a
    /// <see cref="TimeProvider"/> is added (the system clock) unless one is registered already.
    /// </summary>
    public static IServiceCollection AddRaftKvGateway(this IServiceCollection services, KvGatewayOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        options ??= new KvGatewayOptions();
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid gateway options: " + string.Join(" ", errors), nameof(options));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddGrpc();
        // One instance for the process (Grpc.AspNetCore resolves registered services instead of creating one per call):
        // it owns the session gates and the channels to other gateways.
        services.AddSingleton<KvGatewayService>();
        services.AddSingleton<ClusterGatewayService>();
        return services;
    }

    /// <summary>
    /// Maps services <c>raftkv.v1.KV</c> and <c>raftkv.v1.Cluster</c>; listen on an HTTP/2 endpoint (h2c or TLS), and
    /// restrict them to the client port (the silo uses <c>RequireLocalPort</c>) when the host has others (conventions added to the
    /// returned builder apply to both).
    /// </summary>
    public static IEndpointConventionBuilder MapRaftKvGateway(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return new BothServices(endpoints.MapGrpcService<KvGatewayService>(), endpoints.MapGrpcService<ClusterGatewayService>());
    }

    private sealed class BothServices(IEndpointConventionBuilder kv, IEndpointConventionBuilder cluster) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            kv.Add(convention);
            cluster.Add(convention);
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            kv.Finally(finallyConvention);
            cluster.Finally(finallyConvention);
        }
    }
}
