using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using RaftKv.Grpc.Client;
using RaftKv.Grpc.Server;
using RaftKv.Grpc.Tests.Infrastructure;
using RaftKv.Grpc.Tests.Protos;

namespace RaftKv.Grpc.Tests;

/// <summary>Statuses, limits and hostile input: every failure ends as a gRPC status and the server keeps serving.</summary>
public sealed class GrpcErrorTests : IClassFixture<GrpcServerFixture>
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);
    private readonly GrpcTestServer _server;

    public GrpcErrorTests(GrpcServerFixture fixture)
    {
        _server = fixture.Server;
    }

    [Theory]
    [InlineData(StatusCode.NotFound, "clé introuvable: 鍵 ✓ 100%")]
    [InlineData(StatusCode.InvalidArgument, "line one\nline two")]
    [InlineData(StatusCode.PermissionDenied, "")]
    public async Task ServerRpcException_StatusAndMessageRoundTrip(StatusCode status, string message)
    {
        using GrpcChannel channel = _server.CreateChannel();
        var request = new EchoRequest { FailWithStatus = (int)status, FailMessage = message };

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoService.Unary, request));

        Assert.Equal(status, error.StatusCode);
        Assert.Equal(message, error.Detail);
    }

    [Fact]
    public async Task ErrorBeforeAnyMessage_IsTrailersOnlyWithPercentEncodedMessage()
    {
        var request = new EchoRequest { FailWithStatus = (int)StatusCode.NotFound, FailMessage = "nö" };
        using HttpResponseMessage response = await _server.SendRawAsync(EchoService.Unary.FullName, new RawBodyContent(Frames.Of(request)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("5", Assert.Single(response.Headers.GetValues(GrpcProtocol.StatusHeader)));
        Assert.Equal("n%C3%B6", Assert.Single(response.Headers.GetValues(GrpcProtocol.MessageHeader)));
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task HandlerThrowsUnexpectedException_IsUnknownWithoutLeakingDetails()
    {
        using GrpcChannel channel = _server.CreateChannel();
        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = "throw-plain-exception" }));
        Assert.Equal(StatusCode.Unknown, error.StatusCode);
        Assert.DoesNotContain("secret", error.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(EchoService.ServiceName, "NoSuchMethod")]
    [InlineData("no.such.Service", "Unary")]
    public async Task UnknownMethod_IsUnimplemented(string service, string method)
    {
        using GrpcChannel channel = _server.CreateChannel();
        var unknown = new GrpcMethod<EchoRequest, EchoReply>(MethodType.Unary, service, method, EchoRequest.Parser, EchoReply.Parser);

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(unknown, new EchoRequest()));

        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
        Assert.Contains(unknown.FullName, error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongContentType_IsHttp415()
    {
        using HttpResponseMessage response = await _server.SendRawAsync(
            EchoService.Unary.FullName, new RawBodyContent(Frames.Of(new EchoRequest()), "application/json"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task GrpcProtoContentType_IsAccepted()
    {
        using HttpResponseMessage response = await _server.SendRawAsync(
            EchoService.Unary.FullName, new RawBodyContent(Frames.Of(new EchoRequest { Message = "p" }), GrpcProtocol.ContentTypeProto));
        byte[] body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(StatusCode.OK, Frames.StatusOf(response).Status);
        Assert.Equal("p", EchoReply.Parser.ParseFrom(body.AsSpan(GrpcFraming.HeaderSizeBytes)).Message);
    }

    [Fact]
    public async Task OversizedRequest_ServerAnswersResourceExhausted()
    {
        // The client is allowed to send more than the server accepts, so the server's limit decides.
        using GrpcChannel channel = _server.CreateChannel(new GrpcChannelOptions { MaxSendMessageSizeBytes = 16 * 1024 * 1024 });
        var request = new EchoRequest { Payload = ByteString.CopyFrom(new byte[GrpcProtocol.DefaultMaxMessageSizeBytes + 1]) };

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoService.Unary, request));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal("ok", (await channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = "ok" })).Message);
    }

    [Fact]
    public async Task OversizedRequest_OnAStream_ServerAnswersResourceExhausted()
    {
        using GrpcChannel channel = _server.CreateChannel(new GrpcChannelOptions { MaxSendMessageSizeBytes = 16 * 1024 * 1024 });
        using ClientStreamingCall<EchoRequest, EchoReply> call = channel.ClientStreaming(EchoService.ClientStream);
        Task<EchoReply> response = call.ResponseAsync;
        try
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Message = "small" });
            await call.RequestStream.WriteAsync(new EchoRequest { Payload = ByteString.CopyFrom(new byte[GrpcProtocol.DefaultMaxMessageSizeBytes + 1]) });
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server may end the call while the big frame is still being sent; the response says why.
        }

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => response.WaitAsync(WaitLimit));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task OversizedRequest_ClientRefusesBeforeSending()
    {
        using GrpcChannel channel = _server.CreateChannel(new GrpcChannelOptions { MaxSendMessageSizeBytes = 1024 });
        var request = new EchoRequest { Payload = ByteString.CopyFrom(new byte[2048]) };

        RpcException unary = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoService.Unary, request));
        Assert.Equal(StatusCode.ResourceExhausted, unary.StatusCode);

        // On a stream the refused message leaves the call usable.
        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(EchoService.Duplex);
        RpcException streamed = await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(request));
        Assert.Equal(StatusCode.ResourceExhausted, streamed.StatusCode);
        await call.RequestStream.WriteAsync(new EchoRequest { Message = "after" });
        await call.RequestStream.CompleteAsync();
        var replies = new List<string>();
        await foreach (EchoReply reply in call.ReadAllAsync())
        {
            replies.Add(reply.Message);
        }

        Assert.Equal(["after"], replies);
    }

    [Fact]
    public async Task OversizedResponse_ClientAnswersResourceExhausted()
    {
        using GrpcChannel channel = _server.CreateChannel(new GrpcChannelOptions { MaxReceiveMessageSizeBytes = 1024 });
        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => channel.UnaryAsync(EchoService.Unary, new EchoRequest { Count = 4096 }));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task OversizedResponse_ServerSendLimit_IsResourceExhausted()
    {
        await using GrpcTestServer server = await GrpcTestServer.StartAsync(new GrpcServerOptions { MaxSendMessageSizeBytes = 1024 });
        using GrpcChannel channel = server.CreateChannel();
        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => channel.UnaryAsync(EchoService.Unary, new EchoRequest { Count = 4096 }));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task ServerDeadline_FromGrpcTimeoutHeader_IsDeadlineExceeded()
    {
        // A raw request has no client-side timer: only the server's grpc-timeout handling can end it.
        var request = new EchoRequest { Message = $"server-deadline-{Guid.NewGuid()}", WaitForCancellation = true };
        using HttpResponseMessage response = await _server.SendRawAsync(EchoService.Unary.FullName, new RawBodyContent(Frames.Of(request)), grpcTimeout: "100m")
            .WaitAsync(WaitLimit);

        Assert.Equal(StatusCode.DeadlineExceeded, Frames.StatusOf(response).Status);
        await _server.Echo.CancellationObserved(request.Message).WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task MalformedGrpcTimeout_IsRejected()
    {
        using HttpResponseMessage response = await _server.SendRawAsync(EchoService.Unary.FullName, new RawBodyContent(Frames.Of(new EchoRequest())), grpcTimeout: "soon");
        Assert.Equal(StatusCode.Internal, Frames.StatusOf(response).Status);
    }

    [Fact]
    public async Task CompressedFrame_IsUnimplemented()
    {
        byte[] frame = Frames.Of(new EchoRequest { Message = "x" });
        frame[0] = 1;
        using HttpResponseMessage response = await _server.SendRawAsync(EchoService.Unary.FullName, new RawBodyContent(frame));
        Assert.Equal(StatusCode.Unimplemented, Frames.StatusOf(response).Status);
    }

    [Fact]
    public async Task UnsupportedGrpcEncoding_IsUnimplementedAndAdvertisesIdentity()
    {
        var content = new RawBodyContent(Frames.Of(new EchoRequest()));
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.Address, EchoService.Unary.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation(GrpcProtocol.EncodingHeader, "gzip");
        using var client = new HttpClient();
        using HttpResponseMessage response = await client.SendAsync(request);

        Assert.Equal(StatusCode.Unimplemented, Frames.StatusOf(response).Status);
        Assert.Equal(GrpcProtocol.IdentityEncoding, Assert.Single(response.Headers.GetValues(GrpcProtocol.AcceptEncodingHeader)));
    }

    [Theory]
    [InlineData(3)] // the body ends inside the 5-byte header
    [InlineData(12)] // the body ends inside the message
    public async Task TruncatedFrame_IsInternalAndTheServerKeepsServing(int keptBytes)
    {
        byte[] frame = Frames.Of(new EchoRequest { Message = "this frame is cut short on purpose" });
        using HttpResponseMessage response = await _server.SendRawAsync(EchoService.Unary.FullName, new RawBodyContent(frame[..keptBytes]));

        (StatusCode status, string message) = Frames.StatusOf(response);
        Assert.Equal(StatusCode.Internal, status);
        Assert.Contains("Incomplete gRPC message", message, StringComparison.Ordinal);
        await AssertServesAsync(_server);
    }

    [Fact]
    public async Task EmptyUnaryRequest_IsInternal()
    {
        using HttpResponseMessage response = await _server.SendRawAsync(EchoService.Unary.FullName, new RawBodyContent([]));
        Assert.Equal(StatusCode.Internal, Frames.StatusOf(response).Status);
    }

    [Fact]
    public async Task GarbageBytesOnThePort_ConnectionIsDroppedAndTheServerKeepsServing()
    {
        using (var junk = new TcpClient())
        {
            await junk.ConnectAsync(IPAddress.Loopback, _server.Port);
            NetworkStream stream = junk.GetStream();
            byte[] garbage = new byte[4096];
            new Random(42).NextBytes(garbage);
            await stream.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            await stream.WriteAsync(garbage);

            // Kestrel answers a bad preface with GOAWAY (or nothing) and closes: read to the end.
            byte[] sink = new byte[1024];
            using var limit = new CancellationTokenSource(WaitLimit);
            try
            {
                while (await stream.ReadAsync(sink, limit.Token) > 0)
                {
                }
            }
            catch (IOException)
            {
                // A reset is as good as a close.
            }
        }

        await AssertServesAsync(_server);
    }

    [Fact]
    public async Task ConnectionRefused_IsUnavailable()
    {
        // Take a free port and release it, so nothing listens there.
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoService.Unary, new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task NonGrpcHttpStatus_IsMappedPerTheSpec()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var unavailable = new GrpcMethod<EchoRequest, EchoReply>(MethodType.Unary, "plain.Service", "Unavailable", EchoRequest.Parser, EchoReply.Parser);
        RpcException error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(unavailable, new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("503", error.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(HttpStatusCode.BadRequest, StatusCode.Internal)]
    [InlineData(HttpStatusCode.Unauthorized, StatusCode.Unauthenticated)]
    [InlineData(HttpStatusCode.Forbidden, StatusCode.PermissionDenied)]
    [InlineData(HttpStatusCode.NotFound, StatusCode.Unimplemented)]
    [InlineData(HttpStatusCode.TooManyRequests, StatusCode.Unavailable)]
    [InlineData(HttpStatusCode.BadGateway, StatusCode.Unavailable)]
    [InlineData(HttpStatusCode.GatewayTimeout, StatusCode.Unavailable)]
    [InlineData(HttpStatusCode.InternalServerError, StatusCode.Unknown)]
    public void HttpStatusMapping_FollowsTheSpecTable(HttpStatusCode http, StatusCode expected)
        => Assert.Equal(expected, GrpcStatusMapping.FromHttpStatus(http));

    private static async Task AssertServesAsync(GrpcTestServer server)
    {
        using GrpcChannel channel = server.CreateChannel();
        EchoReply reply = await channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = "still serving" }).WaitAsync(WaitLimit);
        Assert.Equal("still serving", reply.Message);
    }
}
