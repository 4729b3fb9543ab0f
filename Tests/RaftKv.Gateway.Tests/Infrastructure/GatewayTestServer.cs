using RaftKv.Node;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RaftKv.Client;
using RaftKv.ClientGateway;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using RaftKv.Client.Protos;

namespace RaftKv.Gateway.Tests.Infrastructure;

/// <summary>The real gateway on Kestrel (127.0.0.1, dynamic port, h2c) over a <see cref="FakeRaftKvNode"/>.</summary>
public sealed class GatewayTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayTestServer(WebApplication app, FakeRaftKvNode node, string address)
    {
        _app = app;
        Node = node;
        Address = address;
    }

    public FakeRaftKvNode Node { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>"http://127.0.0.1:port".</summary>
    public string Address { get; }

    /// <param name="logs">Where the server's log goes (everything from Debug up); none by default.</param>
    /// <param name="middleware">Added to the pipeline first, ahead of the gateway's own (as the silo orders them).</param>
    public static async Task<GatewayTestServer> StartAsync(FakeRaftKvNode node, TimeProvider? timeProvider = null, KvGatewayOptions? options = null,
        ILoggerProvider? logs = null, Action<IApplicationBuilder>? middleware = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
        }
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddSingleton<IRaftKvNode>(node);
        if (timeProvider is not null) builder.Services.AddSingleton(timeProvider);
        builder.Services.AddRaftKvGateway(options);
        WebApplication app = builder.Build();
        middleware?.Invoke(app);
        app.UseClientResetAsCancellation();
        app.MapRaftKvGateway();
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/');
        node.Addresses[node.NodeId] = address;
        return new GatewayTestServer(app, node, address);
    }

    public RaftKvClient CreateClient(int maxAttempts = 8) => new(new RaftKvClientOptions
    {
        Endpoints = [Address],
        MaxAttempts = maxAttempts,
        InitialBackoffMs = 10,
        MaxBackoffMs = 100,
    });

    public GrpcChannel CreateChannel() => GrpcChannel.ForAddress(Address);

    /// <summary>A stock generated client on its own channel; dispose the channel with the test.</summary>
    public (GrpcChannel Channel, KV.KVClient Kv) CreateKvClient()
    {
        GrpcChannel channel = CreateChannel();
        return (channel, new KV.KVClient(channel));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// A clock the test moves by hand: the wall clock (the gateway's command timestamps) and the monotonic timestamp
/// (its idle times). <see cref="Advance"/> moves both; <see cref="StepWallClock"/> only the wall clock, as NTP does.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _utcTicks = start.UtcTicks;
    private long _monotonicTicks = 1;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _utcTicks), TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _monotonicTicks);

    public void Advance(TimeSpan by)
    {
        Interlocked.Add(ref _utcTicks, by.Ticks);
        Interlocked.Add(ref _monotonicTicks, by.Ticks);
    }

    public void StepWallClock(TimeSpan by) => Interlocked.Add(ref _utcTicks, by.Ticks);
}
