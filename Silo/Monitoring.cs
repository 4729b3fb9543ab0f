using System.Text;
using Grpc.AspNetCore.HealthChecks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using RaftKv.Node;
using RaftKv.Raft;
using RaftKv.Silo.ClusterPage;

namespace RaftKv.Silo;

/// <summary>
/// What an operator's tools talk to. On the monitoring port (HTTP/1.1, <see cref="NodeMember.HttpAddress"/>):
/// <c>/metrics</c> (every <c>RaftKv.*</c> meter in Prometheus text format, through OpenTelemetry), <c>/healthz</c>
/// (the process is up) and <c>/readyz</c> (a member of a cluster with a known leader). On the client port (h2c,
/// beside the gateway): the standard gRPC health service <c>grpc.health.v1.Health</c>, which answers for
/// <c>""</c> and <c>raftkv.v1.KV</c> with the readiness check, and gRPC server reflection, so stock tools
/// (grpcurl, grpc_health_probe) can list and call the API.
/// </summary>
public static class Monitoring
{
    /// <summary>Every meter whose name starts so is exported: RaftKv.Node, RaftKv.Storage, RaftKv.StateMachine, RaftKv.Mesh, RaftKv.Gateway.</summary>
    public const string MeterNames = "RaftKv.*";

    /// <summary>
    /// The .NET runtime's own meter: GC collections and pause time, thread-pool queue length and threads, process CPU
    /// and memory, lock contention. Observable instruments, read only when /metrics is scraped. They say whether a
    /// slow Raft step (log event 1108) was the process pausing for GC or the thread pool falling behind.
    /// </summary>
    public const string RuntimeMeterName = "System.Runtime";

    private const string LiveTag = "live";
    private const string ReadyTag = "ready";

    public static IServiceCollection AddRaftKvMonitoring(IServiceCollection services, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("raftkv-silo", serviceInstanceId: options.NodeId.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .WithMetrics(metrics => metrics.AddMeter(MeterNames, RuntimeMeterName).AddPrometheusExporter());
        services.AddGrpcHealthChecks(grpc =>
            {
                // A load balancer asking the gRPC health service should route only to a node that can serve.
                grpc.Services.Map("", check => check.Tags.Contains(ReadyTag));
                grpc.Services.Map("raftkv.v1.KV", check => check.Tags.Contains(ReadyTag));
            })
            .AddCheck(LiveTag, () => HealthCheckResult.Healthy("the silo process is up"), tags: [LiveTag])
            .AddCheck<RaftReadinessCheck>(ReadyTag, tags: [ReadyTag]);
        services.AddGrpcReflection();
        services.AddClusterPage();
        return services;
    }

    /// <summary>
    /// Maps the monitoring endpoints on the monitoring port (when the node has one) and the gRPC health and
    /// reflection services on the client port (the ports Kestrel listens on, see <see cref="LocalPortRouting"/>).
    /// </summary>
    public static void MapRaftKvMonitoring(IEndpointRouteBuilder app, int clientPort, int? httpPort)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGrpcHealthChecksService().RequireLocalPort(clientPort);
        app.MapGrpcReflectionService().RequireLocalPort(clientPort);
        if (httpPort is not { } port) return;
        app.MapPrometheusScrapingEndpoint("/metrics").RequireLocalPort(port);
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = check => check.Tags.Contains(LiveTag), ResponseWriter = WriteTextAsync })
            .RequireLocalPort(port);
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag), ResponseWriter = WriteTextAsync })
            .RequireLocalPort(port);
        app.MapClusterPage(port);
    }

    /// <summary>"ok: ..." or "not ready: ..." with the check's reason, one line, so a human with curl sees why.</summary>
    private static Task WriteTextAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var text = new StringBuilder(report.Status == HealthStatus.Healthy ? "ok" : "not ready");
        foreach (HealthReportEntry entry in report.Entries.Values)
        {
            if (entry.Description is { Length: > 0 } description) text.Append(": ").Append(description);
        }
        return context.Response.WriteAsync(text.Append('\n').ToString());
    }
}

/// <summary>
/// Ready: the node runs, belongs to the cluster's configuration, and knows a leader of its current term (it leads, or
/// follows one it has heard from). A node cut off from its leader loses it within an election timeout (a follower
/// campaigns; a leader without a quorum steps down through CheckQuorum) and reports not ready until it hears from a
/// leader again.
/// </summary>
public sealed class RaftReadinessCheck(SiloNode node) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        RaftStatus? status = node.Runtime.Driver?.Status;
        return Task.FromResult(Evaluate(node.Runtime.NodeId, status));
    }

    /// <summary>The readiness rule on its own, for tests: healthy only with a known leader and this node in the configuration.</summary>
    public static HealthCheckResult Evaluate(ulong nodeId, RaftStatus? status)
    {
        if (status is null) return HealthCheckResult.Unhealthy($"node {nodeId} is not running");
        if (!status.Configuration.AllMembers.Contains(nodeId))
            return HealthCheckResult.Unhealthy($"node {nodeId} is not a member of the cluster's configuration");
        if (status.Leader == 0)
            return HealthCheckResult.Unhealthy($"node {nodeId} knows no leader ({status.Role} in term {status.Term})");
        return HealthCheckResult.Healthy(status.Role == RaftRole.Leader
            ? $"node {nodeId} leads in term {status.Term}, commit index {status.CommitIndex}"
            : $"node {nodeId} follows leader {status.Leader} in term {status.Term}, commit index {status.CommitIndex}");
    }
}
