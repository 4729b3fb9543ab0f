using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;
using RaftKv.ClientGateway;
using RaftKv.Grains;
using RaftKv.Grains.Membership;
using RaftKv.Node;

namespace RaftKv.Silo;

/// <summary>
/// Builds the silo host: one WebApplication holding the node runtime, Kestrel with a peer port (mesh) and a client
/// port (gateway), and the Orleans silo (RaftNode grain service, session and KV grains).
/// </summary>
public static class SiloHost
{
    /// <summary>How long past RaftKv:ShutdownTimeoutMs a stopping silo may take before <see cref="ShutdownWatchdog"/> ends it.</summary>
    private static readonly TimeSpan ShutdownWatchdogMargin = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (OptionsException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 2;
        }
        var options = app.Services.GetRequiredService<NodeOptions>();
        ShutdownWatchdog.Arm(app.Lifetime, TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs) + ShutdownWatchdogMargin);
        try
        {
            await app.StartAsync();
            await app.WaitForShutdownAsync(); // stops the host once stopping is requested
        }
        catch (OperationCanceledException) when (app.Lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // SIGTERM arrived while the host was still starting (Orleans joining its cluster): the start was cancelled.
            // That is a stop request, not a crash (it used to end in an unhandled exception, abort and exit code 134):
            // stop what did start, through the same path as any stop.
            await app.StopAsync();
        }
        finally
        {
            await app.DisposeAsync();
        }
        return Environment.ExitCode;
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        NodeOptions options = builder.Configuration.GetSection(NodeOptions.SectionName).Get<NodeOptions>() ?? new NodeOptions();
        IReadOnlyList<string> errors = options.Validate();
        OrleansSiloOptions orleansOptions = builder.Configuration.GetSection(OrleansSiloOptions.SectionName).Get<OrleansSiloOptions>() ?? new OrleansSiloOptions();
        errors = [.. errors, .. orleansOptions.Validate()];
        if (errors.Count > 0) throw new OptionsException("invalid silo configuration:\n  " + string.Join("\n  ", errors));

        builder.WebHost.ConfigureKestrel(kestrel => ListenOnNodePorts(kestrel, options));
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        AddRaftKvHosting(builder.Services, options);
        builder.UseOrleans(silo => ConfigureOrleans(silo, builder.Configuration, orleansOptions));
        // Peers never close their streams into this silo, so a graceful stop must not wait the host's default 30 s.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs));

        WebApplication app = builder.Build();
        EndPeerStreamsWhenStopping(app, options);
        MapNodeEndpoints(app, options);
        return app;
    }

    /// <summary>Kestrel's listeners for a node: the peer port (Raft mesh) and the client port (gateway). TestingHost silos call this too.</summary>
    public static void ListenOnNodePorts(KestrelServerOptions kestrel, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(options);
        var peerUri = new Uri(options.Self.PeerAddress);
        var clientUri = new Uri(options.Self.ClientAddress);
        // h2c (HTTP/2 with prior knowledge), which gRPC clients speak to "http://" addresses.
        kestrel.Listen(ListenAddress(peerUri), peerUri.Port, listen => listen.Protocols = HttpProtocols.Http2);
        kestrel.Listen(ListenAddress(clientUri), clientUri.Port, listen => listen.Protocols = HttpProtocols.Http2);
        kestrel.Limits.Http2.MaxStreamsPerConnection = 1024;
    }

    /// <summary>The node's services in DI: node runtime and client gateway. TestingHost silos call this too.</summary>
    public static void AddRaftKvHosting(IServiceCollection services, NodeOptions options)
    {
        AddRaftKvNode(services, options);
        services.AddGrpc();
        SiloNode.AddPeerService(services);
        services.AddRaftKvGateway();
    }

    /// <summary>
    /// Peers hold their streams to this node open for as long as both run, so Kestrel's graceful stop would wait for
    /// them until the host's shutdown timeout. This middleware aborts the inbound peer streams when
    /// <see cref="PeerStreamGate"/> says so (the Orleans silo has stopped, or the node stops); the peers see a broken
    /// stream and reconnect to whoever is still up. TestingHost silos call this too.
    /// </summary>
    public static void EndPeerStreamsWhenStopping(IApplicationBuilder app, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        int peerPort = new Uri(options.Self.PeerAddress).Port;
        PeerStreamGate gate = app.ApplicationServices.GetRequiredService<PeerStreamGate>();
        app.Use(async (context, next) =>
        {
            if (context.Connection.LocalPort != peerPort)
            {
                await next(context).ConfigureAwait(false);
                return;
            }
            using CancellationTokenRegistration abort = gate.Ending.Register(static state => ((HttpContext)state!).Abort(), context);
            await next(context).ConfigureAwait(false);
        });
    }

    /// <summary>The gateway on the client port, the peer service on the peer port, and the test faults if enabled.</summary>
    public static void MapNodeEndpoints(IEndpointRouteBuilder app, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        var peerUri = new Uri(options.Self.PeerAddress);
        var clientUri = new Uri(options.Self.ClientAddress);
        app.MapRaftKvGateway().RequireHost($"*:{clientUri.Port}");
        SiloNode.MapPeerService(app).RequireHost($"*:{peerUri.Port}");
        if (options.EnableTestFaults)
        {
            app.MapGrpcService<TestFaults>().RequireHost($"*:{clientUri.Port}");
        }
    }

    /// <summary>
    /// The node runtime and what hosts it: registered before Orleans, started before every hosted service and stopped
    /// after all of them (see <see cref="SiloNode"/>). TestingHost silos call this too.
    /// </summary>
    public static IServiceCollection AddRaftKvNode(IServiceCollection services, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<SiloNode>();
        services.AddHostedService(sp => sp.GetRequiredService<SiloNode>());
        services.AddSingleton<IRaftKvNode>(sp => sp.GetRequiredService<SiloNode>().Runtime);
        // Kestrel (the peer mesh) must not wait for Orleans to join its cluster: once membership lives in Raft
        // (UseRaftKvClustering), joining needs a Raft leader, which needs the mesh. Registration order alone would
        // start Orleans first and Kestrel last, so hosted services start concurrently; the node itself still starts
        // before all of them (SiloNode.StartingAsync).
        services.Configure<HostOptions>(host => host.ServicesStartConcurrently = true);
        // Stopping concurrently too: Kestrel's stop waits for the peer streams, which end only once the Orleans silo has
        // stopped (PeerStreamGate), so a sequential stop (Kestrel first) would wait out the shutdown timeout.
        services.Configure<HostOptions>(host => host.ServicesStopConcurrently = true);
        services.AddSingleton<PeerStreamGate>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, PeerStreamGate.OrleansStopped>();
        return services;
    }

    /// <summary>The Orleans silo of a RaftKv node: identity, endpoints, clustering, and RaftKv's grains.</summary>
    public static void ConfigureOrleans(ISiloBuilder silo, IConfiguration configuration, OrleansSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        silo.Configure<ClusterOptions>(cluster =>
        {
            cluster.ClusterId = options.ClusterId;
            cluster.ServiceId = options.ServiceId;
        });
        silo.ConfigureEndpoints(options.AdvertisedIPAddress, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: true);
        switch (options.Clustering)
        {
            case SiloClustering.Development:
                silo.UseDevelopmentClustering(options.PrimarySiloIPEndPoint);
                break;
            case SiloClustering.RaftKv:
                // The table lives in this cluster's own store, reached through the members' client gateways (this
                // silo's node runtime and gateway start before Orleans asks for the table).
                NodeOptions node = configuration.GetSection(NodeOptions.SectionName).Get<NodeOptions>() ?? new NodeOptions();
                silo.UseRaftKvClustering(clustering =>
                {
                    clustering.Endpoints = [.. node.Members.Select(m => m.ClientAddress)];
                    configuration.GetSection(RaftKvClusteringOptions.SectionName).Bind(clustering);
                });
                break;
        }
        silo.Configure<ClusterMembershipOptions>(LanMembershipTiming.Apply);
        silo.Services.AddOptions<ClusterMembershipOptions>().Bind(configuration.GetSection(LanMembershipTiming.SectionName));
        ConfigureRaftKvGrains(silo, configuration);
    }

    /// <summary>RaftKv's grains and grain service with options from "RaftKv:Grains"; TestingHost silos call this too.</summary>
    public static void ConfigureRaftKvGrains(ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        silo.AddRaftKvGrains(options => options.Bind(configuration.GetSection(RaftKvGrainOptions.SectionName)));
    }

    private static IPAddress ListenAddress(Uri uri) =>
        uri.Host is "localhost" ? IPAddress.Loopback : IPAddress.TryParse(uri.Host, out IPAddress? address) ? address : IPAddress.Any;
}

/// <summary>The configuration does not validate; the message lists every problem.</summary>
public sealed class OptionsException(string message) : Exception(message);
