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
using Orleans.Dashboard;
using Orleans.Runtime;
using RaftKv.ClientGateway;
using RaftKv.Grains;
using RaftKv.Grains.Membership;
using RaftKv.Mesh;
using RaftKv.Node;
using RaftKv.Silo.Security;

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
        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RaftKv.Silo.SiloHost");
        IHostApplicationLifetime lifetime = app.Lifetime; // resolved now: the container is disposed when the start fails
        ShutdownWatchdog.Arm(lifetime, TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs) + ShutdownWatchdogMargin);
        try
        {
            await app.StartAsync();
            await app.WaitForShutdownAsync(); // stops the host once stopping is requested
        }
        catch (Exception e) when (e is not OutOfMemoryException && lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // Asked to stop (SIGTERM, Ctrl+C, parent gone, fatal node error) while still starting, e.g. while Orleans was
            // joining the cluster: the start fails with cancellations (OperationCanceledException, Orleans'
            // OrleansLifecycleCanceledException, or an AggregateException of them). A clean stop, not a crash: stop
            // what did start, through the same path as any stop.
            SiloLog.StoppedWhileStarting(logger, options.NodeId);
            await StopQuietlyAsync(app);
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException e)
        {
            // Options bound with ValidateOnStart (RaftKv:Grains, RaftKv:Clustering): one line per failure, each naming its setting.
            await Console.Error.WriteLineAsync("invalid silo configuration:\n  " + string.Join("\n  ", e.Failures));
            await StopQuietlyAsync(app);
            return 2;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SiloLog.FailedToStart(logger, options.NodeId, e);
            await StopQuietlyAsync(app);
            return 1;
        }
        finally
        {
            await app.DisposeAsync();
        }
        return Environment.ExitCode;
    }

    /// <summary>Stops what started after a failed start; a failure to stop is not worth more than the start's.</summary>
    private static async Task StopQuietlyAsync(WebApplication app)
    {
        try
        {
            await app.StopAsync();
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or InvalidOperationException or AggregateException)
        {
        }
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        NodeOptions options = builder.Configuration.GetSection(NodeOptions.SectionName).Get<NodeOptions>() ?? new NodeOptions();
        IReadOnlyList<string> errors = options.Validate();
        OrleansSiloOptions orleansOptions = builder.Configuration.GetSection(OrleansSiloOptions.SectionName).Get<OrleansSiloOptions>() ?? new OrleansSiloOptions();
        errors = [.. errors, .. orleansOptions.Validate()];
        SecurityOptions security = builder.Configuration.GetSection(SecurityOptions.SectionName).Get<SecurityOptions>() ?? new SecurityOptions();
        LimitsOptions limits = builder.Configuration.GetSection(LimitsOptions.SectionName).Get<LimitsOptions>() ?? new LimitsOptions();
        errors = [.. errors, .. security.Validate(options), .. limits.Validate()];
        if (errors.Count > 0) throw new OptionsException("invalid silo configuration:\n  " + string.Join("\n  ", errors));
        NodeCertificates? certificates = LoadCertificates(security, options);

        builder.WebHost.ConfigureKestrel(kestrel => ListenOnNodePorts(kestrel, options, certificates, security, limits));
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        // Orleans' timers and delays (its membership ones fire ~15 times a second in an idle silo) and the node's clock
        // resolve the TimeProvider from DI; registered before anything adds TimeProvider.System.
        builder.Services.AddSingleton<TimeProvider>(_ => new DedicatedTimerThread());
        AddRaftKvHosting(builder.Services, options, certificates, limits);
        builder.UseOrleans(silo =>
        {
            ConfigureOrleans(silo, builder.Configuration, orleansOptions);
            if (certificates is not null)
            {
                SiloSecurity.UseMembershipClientTls(silo, certificates);
                if (security.OrleansTls) SiloSecurity.UseOrleansTls(silo, certificates);
            }
            if (limits.OrleansMaxMessageBodyBytes > 0)
            {
                silo.Configure<SiloMessagingOptions>(messaging => messaging.MaxMessageBodySize = limits.OrleansMaxMessageBodyBytes);
            }
        });
        // Orleans' own handler would FailFast the whole process, Raft node included (see OrleansFatalErrorHandler).
        builder.Services.Replace(ServiceDescriptor.Singleton<Orleans.Runtime.IFatalErrorHandler, OrleansFatalErrorHandler>());
        // Peers never close their streams into this silo, so a graceful stop must not wait the host's default 30 s.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs));

        WebApplication app = builder.Build();
        if (certificates is not null)
        {
            ILogger securityLogger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RaftKv.Silo.Security");
            SecurityLog.TlsOn(securityLogger, certificates.Certificate.Subject, certificates.Certificate.Thumbprint, certificates.Certificate.NotAfter,
                security.RequireClientCertificate ? "certificate required" : security.ClientAuthenticationRequired ? "certificate or token" : "off", security.OrleansTls);
            certificates.StartWatching(securityLogger);
            app.Lifetime.ApplicationStopped.Register(certificates.Dispose);
        }
        EndPeerStreamsWhenStopping(app, options);
        app.UseClientResetAsCancellation();
        // The ports Kestrel listens on (Connection.LocalPort), not the advertised ones: behind NAT or a port mapping
        // they differ, and checking the advertised port would skip authentication altogether.
        SiloSecurity.UseClientPortChecks(app, options.ClientListenUri.Port, security, certificates, limits);
        SiloSecurity.UsePeerPortChecks(app, options.PeerListenUri.Port, limits);
        MapNodeEndpoints(app, options);
        if (orleansOptions.Dashboard && options.HttpListenUri is not null)
        {
            app.MapOrleansDashboard(routePrefix: "/dashboard").RequireLocalPort(options.HttpListenUri.Port);
        }
        return app;
    }

    private static NodeCertificates? LoadCertificates(SecurityOptions security, NodeOptions options)
    {
        if (!security.TlsEnabled) return null;
        try
        {
            return new NodeCertificates(security, options);
        }
        catch (InvalidDataException e)
        {
            throw new OptionsException($"invalid silo configuration:\n  {SecurityOptions.SectionName}: {e.Message}");
        }
    }

    /// <summary>Kestrel's listeners for a node: the peer port (Raft mesh) and the client port (gateway). TestingHost silos call this too.</summary>
    public static void ListenOnNodePorts(KestrelServerOptions kestrel, NodeOptions options) =>
        ListenOnNodePorts(kestrel, options, null, new SecurityOptions(), new LimitsOptions());

    /// <summary>
    /// Kestrel's listeners for a node, with TLS when <paramref name="certificates"/> is set (mutual TLS on the peer port,
    /// see <see cref="SiloSecurity"/>), and the per-connection stream limit.
    /// </summary>
    public static void ListenOnNodePorts(KestrelServerOptions kestrel, NodeOptions options, NodeCertificates? certificates, SecurityOptions security, LimitsOptions limits)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(security);
        ArgumentNullException.ThrowIfNull(limits);
        Uri peerUri = options.PeerListenUri;
        Uri clientUri = options.ClientListenUri;
        // Without TLS: h2c (HTTP/2 with prior knowledge), which gRPC clients speak to "http://" addresses.
        kestrel.Listen(ListenAddress(peerUri), peerUri.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (certificates is not null) SiloSecurity.UsePeerTls(listen, certificates);
        });
        kestrel.Listen(ListenAddress(clientUri), clientUri.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (certificates is not null) SiloSecurity.UseClientTls(listen, certificates, security);
        });
        // The monitoring port speaks plain HTTP/1.1: what curl, Prometheus and load balancers' health checks speak by
        // default, which the h2c-only ports do not. It carries no keys or values, only metrics, health and status.
        if (options.HttpListenUri is { } httpUri) kestrel.Listen(ListenAddress(httpUri), httpUri.Port, listen => listen.Protocols = HttpProtocols.Http1);
        kestrel.Limits.Http2.MaxStreamsPerConnection = limits.MaxConcurrentStreamsPerConnection;
    }

    /// <summary>The node's services in DI: node runtime and client gateway. TestingHost silos call this too.</summary>
    public static void AddRaftKvHosting(IServiceCollection services, NodeOptions options) => AddRaftKvHosting(services, options, null, new LimitsOptions());

    /// <summary>The node's services with TLS material (null: cleartext) and port limits (message sizes per port).</summary>
    public static void AddRaftKvHosting(IServiceCollection services, NodeOptions options, NodeCertificates? certificates, LimitsOptions limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        AddRaftKvNode(services, options);
        services.AddLocalPortRouting();
        services.AddSingleton(limits);
        if (certificates is not null) services.AddSingleton(certificates);
        services.AddGrpc()
            .AddServiceOptions<KvGatewayService>(grpc => grpc.MaxReceiveMessageSize = limits.ClientMaxReceiveMessageBytes)
            .AddServiceOptions<PeerService>(grpc => grpc.MaxReceiveMessageSize = limits.PeerMaxReceiveMessageBytes);
        SiloNode.AddPeerService(services);
        services.AddRaftKvGateway(new KvGatewayOptions
        {
            ForwardingHttpHandlerFactory = certificates is null ? null : () => SiloSecurity.NodeToGatewayHandler(certificates),
        });
        Monitoring.AddRaftKvMonitoring(services, options);
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
        int peerPort = options.PeerListenUri.Port;
        PeerStreamGate gate = app.ApplicationServices.GetRequiredService<PeerStreamGate>();
        // Requests to other ports pass straight through, without an async state machine of their own.
        app.Use((context, next) => context.Connection.LocalPort != peerPort ? next(context) : AbortWhenEndingAsync(context, next));

        async Task AbortWhenEndingAsync(HttpContext context, RequestDelegate next)
        {
            using CancellationTokenRegistration abort = gate.Ending.Register(static state => ((HttpContext)state!).Abort(), context);
            await next(context).ConfigureAwait(false);
        }
    }

    /// <summary>The gateway on the client port, the peer service on the peer port, and the test faults if enabled.</summary>
    public static void MapNodeEndpoints(IEndpointRouteBuilder app, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        // By the port the connection arrived on, not the Host header: clients behind NAT, a container's port mapping
        // or a load balancer name other ports there (LocalPortRouting).
        int clientPort = options.ClientListenUri.Port;
        app.MapRaftKvGateway().RequireLocalPort(clientPort);
        SiloNode.MapPeerService(app).RequireLocalPort(options.PeerListenUri.Port);
        Monitoring.MapRaftKvMonitoring(app, clientPort, options.HttpListenUri?.Port);
        if (options.EnableTestFaults)
        {
            app.MapGrpcService<TestFaults>().RequireLocalPort(clientPort);
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
                    // A joining node lists only itself; the member it joins through can serve the table meanwhile.
                    clustering.Endpoints = [.. node.Members.Select(m => m.ClientAddress), .. node.Join is { } join ? [join] : Array.Empty<string>()];
                    configuration.GetSection(RaftKvClusteringOptions.SectionName).Bind(clustering);
                });
                break;
        }
        if (options.Dashboard) silo.AddDashboard();
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
