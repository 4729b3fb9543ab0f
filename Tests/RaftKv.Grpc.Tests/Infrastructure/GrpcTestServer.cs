using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RaftKv.Grpc.Client;
using RaftKv.Grpc.Server;

namespace RaftKv.Grpc.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on 127.0.0.1 with a dynamic port, speaking h2c, hosting the echo
/// service, plus a plain (non-gRPC) endpoint for HTTP status mapping tests.
/// </summary>
public sealed class GrpcTestServer : IAsyncDisposable
{
    public const string PlainServiceUnavailablePath = "/plain.Service/Unavailable";

    private readonly WebApplication _app;
    private readonly HttpClient _rawClient;

    private GrpcTestServer(WebApplication app, EchoService echo, Uri address)
    {
        _app = app;
        Echo = echo;
        Address = address;
        _rawClient = new HttpClient(new SocketsHttpHandler()) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public EchoService Echo { get; }

    /// <summary>"http://127.0.0.1:port" of the running server.</summary>
    public Uri Address { get; }

    public int Port => Address.Port;

    /// <summary>Starts on h2c, or on TLS with ALPN when <paramref name="tlsCertificate"/> is given.</summary>
    public static async Task<GrpcTestServer> StartAsync(
        GrpcServerOptions? options = null,
        X509Certificate2? tlsCertificate = null,
        CancellationToken cancellationToken = default)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (tlsCertificate is null)
            {
                listen.UseGrpcCleartext();
            }
            else
            {
                listen.UseGrpcTls(tlsCertificate);
            }
        }));
        WebApplication app = builder.Build();

        var echo = new EchoService();
        app.MapGrpcService(echo.Definition(), options);
        app.MapPost(PlainServiceUnavailablePath, context =>
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });

        await app.StartAsync(cancellationToken);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new GrpcTestServer(app, echo, new Uri(bound));
    }

    public GrpcChannel CreateChannel(GrpcChannelOptions? options = null) => GrpcChannel.ForAddress(Address, options);

    /// <summary>Sends a hand-made HTTP/2 request, for protocol cases our own client never produces.</summary>
    public Task<HttpResponseMessage> SendRawAsync(string path, HttpContent content, string? grpcTimeout = null, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Address, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        if (grpcTimeout is not null)
        {
            request.Headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, grpcTimeout);
        }

        return _rawClient.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        _rawClient.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}

/// <summary>One server shared by the tests of a class; tests needing special options start their own.</summary>
public sealed class GrpcServerFixture : IAsyncLifetime
{
    private GrpcTestServer? _server;

    public GrpcTestServer Server => _server ?? throw new InvalidOperationException("The server has not started.");

    public async Task InitializeAsync() => _server = await GrpcTestServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>Request bodies built byte by byte, to send what a conforming client would not.</summary>
public sealed class RawBodyContent : HttpContent
{
    private readonly byte[] _body;

    public RawBodyContent(byte[] body, string contentType = GrpcProtocol.ContentType)
    {
        _body = body;
        Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => stream.WriteAsync(_body).AsTask();

    // Unknown length: the body simply ends (END_STREAM) wherever the bytes end, even mid-frame.
    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
