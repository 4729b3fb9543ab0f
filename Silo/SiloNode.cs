using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftKv.Mesh;
using RaftKv.Node;

namespace RaftKv.Silo;

/// <summary>
/// Hosts the <see cref="NodeRuntime"/> in the silo process: starts it before every other hosted service (Kestrel and
/// the Orleans silo) and stops it after all of them, stops the silo on a fatal node error, and stops the silo when the
/// launching process is gone.
/// </summary>
/// <remarks>
/// The order comes from the host's lifecycle phases, not from registration order (which differs between
/// WebApplication, where Kestrel's service is added last, and TestingHost's HostBuilder, where Orleans is added
/// first): the node starts in <see cref="StartingAsync"/>, which the host runs for every service before any
/// <c>StartAsync</c>, and stops in <see cref="StoppedAsync"/>, which runs after every <c>StopAsync</c>. So the node
/// is up before Orleans asks anything of it (grain services, a membership table stored in Raft) and outlives the
/// silo's shutdown, and Raft never waits for Orleans.
/// </remarks>
public sealed class SiloNode(NodeOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider, IHostApplicationLifetime lifetime, PeerStreamGate peerStreams)
    : IHostedLifecycleService
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<SiloNode>();

    public NodeRuntime Runtime { get; } = new(options, loggerFactory, timeProvider, error => OnFatal(loggerFactory, options, lifetime, error));

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        Runtime.Start();
        if (options.ParentProcessId != 0) _ = WatchParentAsync(options.ParentProcessId);
        SiloLog.Serving(_logger, options.NodeId, options.Self.ClientAddress, options.Self.PeerAddress, Path.GetFullPath(options.DataDirectory));
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Test fault (<see cref="TestFaults"/>): the silo's stop never finishes, whatever the shutdown timeout says.</summary>
    internal bool HangOnStop { get; set; }

    /// <summary>
    /// First thing when the host stops, while Kestrel and the Orleans silo still run: a leader hands its leadership to
    /// the most caught-up voter (Raft thesis 3.10), so the cluster gets a new leader in a round trip instead of an
    /// election timeout, and Orleans' membership writes during this silo's stop go to a leader that stays. Bounded by
    /// two election timeouts; a transfer that does not finish changes nothing (the node simply stops as a leader).
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (HangOnStop) await Task.Delay(Timeout.Infinite, CancellationToken.None).ConfigureAwait(false);
        try
        {
            await Runtime.HandOffLeadershipAsync().WaitAsync(TimeSpan.FromMilliseconds(2 * options.ElectionTimeoutMs), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        peerStreams.End(); // normally done already, when the Orleans silo stopped
        return Runtime.StopAsync();
    }

    /// <summary>
    /// The inbound side of the peer mesh (one <see cref="PeerService"/> for the process, registered with
    /// <see cref="AddPeerService"/>), mapped before the node starts: messages reach the driver once it runs.
    /// </summary>
    public static IEndpointConventionBuilder MapPeerService(IEndpointRouteBuilder endpoints) => endpoints.MapGrpcService<PeerService>();

    /// <summary>Registers the <see cref="PeerService"/> singleton that hands peer traffic to this silo's node runtime.</summary>
    public static IServiceCollection AddPeerService(IServiceCollection services) =>
        services.AddSingleton(sp =>
        {
            NodeRuntime node = sp.GetRequiredService<SiloNode>().Runtime;
            return new PeerService(node.Options.NodeId, node.PeerHandler, sp.GetRequiredService<ILoggerFactory>().CreateLogger<PeerService>());
        });

    private async Task WatchParentAsync(int parentProcessId)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(lifetime.ApplicationStopping).ConfigureAwait(false))
            {
                if (!IsRunning(parentProcessId))
                {
                    lifetime.StopApplication();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void OnFatal(ILoggerFactory loggerFactory, NodeOptions options, IHostApplicationLifetime lifetime, Exception error)
    {
        SiloLog.Fatal(loggerFactory.CreateLogger<SiloNode>(), options.NodeId, error);
        Environment.ExitCode = 70;
        lifetime.StopApplication();
    }
}
