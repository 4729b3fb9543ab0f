using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RaftKv.Grpc.Server;

public static class GrpcEndpointRouteBuilderExtensions
{
    // One catch-all per route builder answers unknown "/service/method" POSTs with UNIMPLEMENTED.
    private static readonly ConditionalWeakTable<IEndpointRouteBuilder, object> CatchAllMapped = new();

    /// <summary>
    /// Maps every method of <paramref name="service"/> as a POST endpoint at its full path, and
    /// (once per route builder) a catch-all "/{service}/{method}" endpoint that answers gRPC
    /// requests for unknown methods with UNIMPLEMENTED. Literal method routes always win over
    /// the catch-all. The returned builder applies conventions (auth, metadata) to all methods.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcService(
        this IEndpointRouteBuilder endpoints,
        GrpcServiceDefinition service,
        GrpcServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(service);
        options ??= new GrpcServerOptions();
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid {nameof(GrpcServerOptions)}: {string.Join(" ", errors)}", nameof(options));
        }

        ILoggerFactory loggerFactory = endpoints.ServiceProvider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        ILogger logger = loggerFactory.CreateLogger("RaftKv.Grpc.Server");
        var handler = new GrpcServerCallHandler(options, logger);

        RouteGroupBuilder group = endpoints.MapGroup(string.Empty);
        foreach (ServerMethod method in service.Methods)
        {
            group.MapPost(method.FullName, httpContext => handler.HandleAsync(httpContext, method))
                .WithDisplayName($"gRPC {method.FullName}");
        }

        if (CatchAllMapped.TryAdd(endpoints, new object()))
        {
            endpoints.MapPost("/{unknownService}/{unknownMethod}", httpContext => GrpcServerCallHandler.HandleUnimplementedAsync(httpContext, logger))
                .WithDisplayName("gRPC unimplemented method");
        }

        return group;
    }
}
