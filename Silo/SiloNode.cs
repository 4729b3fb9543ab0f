using Grpc.Core;
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
/// <param name="peerStreams">Ends inbound peer streams once Orleans has stopped (see <see cref="PeerStreamGate"/>).</param>
/// <param name="certificates">The node's TLS material when TLS is configured: the mesh then dials peers with mutual TLS.</param>
/// <param name="limits">Port limits (the mesh sends messages up to the peer port's receive limit).</param>
public sealed class SiloNode(NodeOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider, IHostApplicationLifetime lifetime,
    PeerStreamGate peerStreams, Security.NodeCertificates? certificates = null, Security.LimitsOptions? limits = null) : IHostedLifecycleService
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<SiloNode>();

    // Raft's ticks fire when due: the silo's timer thread coalesces Orleans' timers of a quarter second and more, and an
    // election or a heartbeat must not wait for company.
    public NodeRuntime Runtime { get; } = new(options, loggerFactory, timeProvider is DedicatedTimerThread timers ? timers.Precise : timeProvider,
        error => OnFatal(loggerFactory, options, lifetime, error))
    {
        MeshOptions = Security.SiloSecurity.MeshOptions(certificates, limits ?? new Security.LimitsOptions(), loggerFactory.CreateLogger("RaftKv.Silo.Security")),
    };

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        Runtime.Start();
        if (options.ParentProcessId != 0) _ = WatchParentAsync(options.ParentProcessId);
        // RaftKv:Join: ask the cluster to add this node as a learner, unless its log already shows it is a member.
        if (options.Join is not null && !Runtime.Status.Configuration.IsMember(options.NodeId))
        {
            _ = ClusterJoin.RunAsync(Runtime, options, _logger, lifetime.ApplicationStopping);
        }
        SiloLog.Serving(_logger, options.NodeId, options.Self.ClientAddress, options.Self.PeerAddress,
            options.Self.HttpAddress.Length > 0 ? options.Self.HttpAddress : "(none)", Path.GetFullPath(options.DataDirectory));
        WarnIfListenPortDiffers();
        // Off the start path: Kestrel starts beside Orleans, which may wait for a leader before it has started.
        _ = ProbeAdvertisedPeerAddressAsync(lifetime.ApplicationStopping);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        SiloLog.Started(_logger, options.NodeId);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Listen and advertised addresses are separate settings, for NAT and container port mappings. When their
    /// ports differ, say so at Warning with both: when nothing maps one to the other, the peers never reach this
    /// node, and it campaigns forever with nothing else to show why.
    /// </summary>
    private void WarnIfListenPortDiffers()
    {
        int index = options.Members.FindIndex(m => m.Id == options.NodeId);
        void Check(string listenSetting, Uri listen, string advertisedSetting, string advertised)
        {
            if (advertised.Length == 0) return;
            int advertisedPort = new Uri(advertised).Port;
            if (advertisedPort != listen.Port)
                SiloLog.ListenPortDiffers(_logger, options.NodeId, listenSetting, listen.Port, listen.ToString(), advertisedSetting, advertised, advertisedPort);
        }
        Check("RaftKv:PeerListenAddress", options.PeerListenUri, $"RaftKv:Members:{index}:PeerAddress", options.Self.PeerAddress);
        Check("RaftKv:ClientListenAddress", options.ClientListenUri, $"RaftKv:Members:{index}:ClientAddress", options.Self.ClientAddress);
        if (options.HttpListenUri is { } http) Check("RaftKv:HttpListenAddress", http, $"RaftKv:Members:{index}:HttpAddress", options.Self.HttpAddress);
    }

    /// <summary>
    /// Opens TCP connections to this node's advertised peer address until one succeeds, for up to 10 s (Kestrel
    /// binds meanwhile). None succeeding means the address the other members were given does not lead here (from
    /// this host at least): reported at Warning, never fatal, since a NAT may forward it only for traffic from outside.
    /// </summary>
    private async Task ProbeAdvertisedPeerAddressAsync(CancellationToken cancellationToken)
    {
        var advertised = new Uri(options.Self.PeerAddress);
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        string reason = "";
        try
        {
            while (elapsed.Elapsed < TimeSpan.FromSeconds(10))
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(TimeSpan.FromSeconds(2));
                try
                {
                    using var client = new System.Net.Sockets.TcpClient();
                    await client.ConnectAsync(advertised.Host, advertised.Port, attempt.Token).ConfigureAwait(false);
                    return;
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    reason = e.Message;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    reason = "no answer within 2 s";
                }
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
            int index = options.Members.FindIndex(m => m.Id == options.NodeId);
            SiloLog.AdvertisedAddressUnreachable(_logger, options.NodeId, $"RaftKv:Members:{index}:PeerAddress", options.Self.PeerAddress,
                reason, options.PeerListenUri.ToString());
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

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
            // With mutual TLS, a peer's messages must come from the node its certificate names.
            Security.NodeCertificates? certificates = sp.GetService<Security.NodeCertificates>();
            Func<ServerCallContext, ulong?>? authenticatedPeer = certificates is null ? null : context =>
                context.GetHttpContext().Connection.ClientCertificate is { } certificate && certificates.IsMember(certificate, out ulong id, out _) ? id : null;
            return new PeerService(node.Options.NodeId, node.PeerHandler, sp.GetRequiredService<ILoggerFactory>().CreateLogger<PeerService>(), authenticatedPeer);
        });

    private async Task WatchParentAsync(int parentProcessId)
    {
        // The silo's TimeProvider: in a silo process its timers wake one thread once per firing (DedicatedTimerThread).
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), timeProvider);
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
        // The node has stopped: nothing is left to hand off or drain, only Orleans and Kestrel to stop, and Orleans'
        // stop hangs without a working membership table (chaos: a full disk on the node that stores it).
        ShutdownWatchdog.StopFailing(lifetime, TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs), 70);
    }
}
