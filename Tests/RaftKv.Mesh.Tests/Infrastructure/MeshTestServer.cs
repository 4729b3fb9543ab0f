using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace RaftKv.Mesh.Tests.Infrastructure;

/// <summary>A real Kestrel h2c server on 127.0.0.1 hosting one node's <see cref="PeerService"/> on Grpc.AspNetCore.</summary>
public sealed class MeshTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private bool _stopped;

    private MeshTestServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>"http://127.0.0.1:port".</summary>
    public Uri Address { get; }

    public int Port => Address.Port;

    /// <summary>Starts on <paramref name="port"/> (0 picks a free one).</summary>
    public static async Task<MeshTestServer> StartAsync(ulong nodeId, IPeerMessageHandler handler, int port = 0, CancellationToken cancellationToken = default)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new PeerService(nodeId, handler, NullLogger.Instance));
        WebApplication app = builder.Build();
        app.MapGrpcService<PeerService>();
        await app.StartAsync(cancellationToken);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new MeshTestServer(app, new Uri(bound));
    }

    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        // An already-cancelled token aborts open streams at once (like a crash) instead of draining them gracefully.
        using var abort = new CancellationTokenSource();
        await abort.CancelAsync();
        await _app.StopAsync(abort.Token);
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
