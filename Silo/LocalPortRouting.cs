using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace RaftKv.Silo;

/// <summary>
/// Restricts an endpoint to the port a connection arrived on (the port Kestrel listens on), whatever the request's
/// Host header says. A silo serves three ports from one Kestrel (peer mesh, client gateway, monitoring); behind NAT,
/// a container's port mapping or a load balancer, clients name some other port in their Host header (a Kubernetes
/// Service on port 80, a published port), so routing by Host (<c>RequireHost</c>) refused them with 404.
/// </summary>
public static class LocalPortRouting
{
    /// <summary>The endpoint answers only on connections accepted on <paramref name="port"/>.</summary>
    public static TBuilder RequireLocalPort<TBuilder>(this TBuilder builder, int port)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var metadata = new LocalPortMetadata(port);
        builder.Add(endpoint => endpoint.Metadata.Add(metadata));
        return builder;
    }

    /// <summary>Registers the matcher policy that <see cref="RequireLocalPort{TBuilder}"/> needs.</summary>
    public static IServiceCollection AddLocalPortRouting(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, LocalPortMatcherPolicy>());
        return services;
    }

    internal sealed record LocalPortMetadata(int Port);

    /// <summary>Drops candidate endpoints bound to another local port; endpoints without the metadata answer on every port.</summary>
    private sealed class LocalPortMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
    {
        public override int Order => 0;

        public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) =>
            endpoints.Any(endpoint => endpoint.Metadata.GetMetadata<LocalPortMetadata>() is not null);

        public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
        {
            int port = httpContext.Connection.LocalPort;
            for (int i = 0; i < candidates.Count; i++)
            {
                if (candidates.IsValidCandidate(i) && candidates[i].Endpoint.Metadata.GetMetadata<LocalPortMetadata>() is { } only && only.Port != port)
                {
                    candidates.SetValidity(i, false);
                }
            }
            return Task.CompletedTask;
        }
    }
}
