using RaftKv.Node;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RaftKv.Grpc.Server;

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
        services.AddSingleton<KvGatewayService>();
        return services;
    }

    /// <summary>Maps service <c>raftkv.v1.KV</c>; listen on an HTTP/2 endpoint (<c>UseGrpcCleartext</c> or TLS).</summary>
    public static IEndpointConventionBuilder MapRaftKvGateway(this IEndpointRouteBuilder endpoints, GrpcServerOptions? grpcOptions = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var service = endpoints.ServiceProvider.GetRequiredService<KvGatewayService>();
        return endpoints.MapGrpcService(service.Definition(), grpcOptions);
    }
}
