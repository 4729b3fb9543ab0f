using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using RaftKv.Grpc.Client;
using RaftKv.Grpc.Server;
using RaftKv.Grpc.Tests.Infrastructure;
using RaftKv.Grpc.Tests.Protos;

namespace RaftKv.Grpc.Tests;

/// <summary>Our client against our server over real h2c sockets: every call kind and the happy paths.</summary>
public sealed class GrpcCallTests : IClassFixture<GrpcServerFixture>
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);
    private readonly GrpcTestServer _server;

    public GrpcCallTests(GrpcServerFixture fixture)
    {
        _server = fixture.Server;
    }

    [Fact]
    public async Task Unary_RoundTripsMessageMetadataAndPeer()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var options = new CallOptions { Headers = [new("x-test", "metadata-value")] };

        EchoReply reply = await channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = "hello" }, options);

        Assert.Equal("hello", reply.Message);
        Assert.Equal("metadata-value", reply.Metadata);
        Assert.StartsWith("ipv4:127.0.0.1:", reply.Peer, StringComparison.Ordinal);
        Assert.False(reply.HasDeadline);
    }

    [Fact]
    public async Task Unary_ManyConcurrentCallsShareTheChannel()
    {
        using GrpcChannel channel = _server.CreateChannel();
        EchoReply[] replies = await Task.WhenAll(Enumerable.Range(0, 50).Select(
            i => channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = $"m{i}" })));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"m{i}"), replies.Select(r => r.Message));
    }

    [Fact]
    public async Task Unary_DeadlineIsSentToTheServer()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var options = new CallOptions { Deadline = DateTimeOffset.UtcNow.AddMinutes(5) };
        EchoReply reply = await channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = "d" }, options);
        Assert.True(reply.HasDeadline);
    }

    [Fact]
    public async Task ServerStreaming_ReceivesAllMessagesInOrder()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var replies = new List<EchoReply>();
        await foreach (EchoReply reply in channel.ServerStreamingAsync(EchoService.ServerStream, new EchoRequest { Message = "s", Count = 25 }))
        {
            replies.Add(reply);
        }

        Assert.Equal(Enumerable.Range(0, 25), replies.Select(r => r.Index));
        Assert.Equal("s#24", replies[^1].Message);
    }

    [Fact]
    public async Task ServerStreaming_ZeroMessages_EndsCleanly()
    {
        using GrpcChannel channel = _server.CreateChannel();
        int received = 0;
        await foreach (EchoReply unused in channel.ServerStreamingAsync(EchoService.ServerStream, new EchoRequest { Count = 0 }))
        {
            received++;
        }

        Assert.Equal(0, received);
    }

    [Fact]
    public async Task ServerStreaming_ErrorAfterMessages_DeliversMessagesThenStatusFromTrailers()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var request = new EchoRequest { Message = "e", Count = 3, FailWithStatus = (int)StatusCode.Aborted, FailMessage = "stopped after three" };
        var received = new List<int>();

        RpcException error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (EchoReply reply in channel.ServerStreamingAsync(EchoService.ServerStream, request))
            {
                received.Add(reply.Index);
            }
        });

        Assert.Equal([0, 1, 2], received);
        Assert.Equal(StatusCode.Aborted, error.StatusCode);
        Assert.Equal("stopped after three", error.Detail);
    }

    [Fact]
    public async Task ClientStreaming_ServerSeesEveryRequestInOrder()
    {
        using GrpcChannel channel = _server.CreateChannel();
        using ClientStreamingCall<EchoRequest, EchoReply> call = channel.ClientStreaming(EchoService.ClientStream);
        for (int i = 0; i < 10; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Message = $"c{i}", Payload = ByteString.CopyFrom(new byte[i]) });
        }

        await call.RequestStream.CompleteAsync();
        EchoReply reply = await call.ResponseAsync;

        Assert.Equal(10, reply.Index);
        Assert.Equal(string.Join(",", Enumerable.Range(0, 10).Select(i => $"c{i}")), reply.Message);
        Assert.Equal("45", reply.Metadata);
    }

    [Fact]
    public async Task ClientStreaming_NoRequests_StillGetsAResponse()
    {
        using GrpcChannel channel = _server.CreateChannel();
        using ClientStreamingCall<EchoRequest, EchoReply> call = channel.ClientStreaming(EchoService.ClientStream);
        await call.RequestStream.CompleteAsync();
        Assert.Equal(0, (await call.ResponseAsync).Index);
    }

    [Fact]
    public async Task DuplexStreaming_PingPong_ResponsesFlowBeforeTheRequestStreamEnds()
    {
        using GrpcChannel channel = _server.CreateChannel();
        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(EchoService.Duplex);
        await using IAsyncEnumerator<EchoReply> responses = call.ReadAllAsync().GetAsyncEnumerator();

        // Each reply is awaited before the next request is written, so this only finishes if
        // request frames and response frames really flow at the same time.
        for (int i = 0; i < 5; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Message = $"ping{i}" });
            Assert.True(await responses.MoveNextAsync().AsTask().WaitAsync(WaitLimit));
            Assert.Equal($"ping{i}", responses.Current.Message);
            Assert.Equal(i, responses.Current.Index);
        }

        await call.RequestStream.CompleteAsync();
        Assert.False(await responses.MoveNextAsync());
    }

    [Fact]
    public async Task DuplexStreaming_ServerErrorMidStream_IsThrownFromTheReader()
    {
        using GrpcChannel channel = _server.CreateChannel();
        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(EchoService.Duplex);
        await call.RequestStream.WriteAsync(new EchoRequest { Message = "ok" });
        await call.RequestStream.WriteAsync(new EchoRequest { FailWithStatus = (int)StatusCode.FailedPrecondition, FailMessage = "not now" });
        await call.RequestStream.CompleteAsync();

        var received = new List<string>();
        RpcException error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (EchoReply reply in call.ReadAllAsync())
            {
                received.Add(reply.Message);
            }
        });

        Assert.Equal(["ok"], received);
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal("not now", error.Detail);
    }

    [Fact]
    public async Task LargeMessages_JustUnderTheDefaultLimit_RoundTripBothWays()
    {
        using GrpcChannel channel = _server.CreateChannel();
        const int limit = GrpcProtocol.DefaultMaxMessageSizeBytes;
        // Leave room for the other fields and the length-delimited field's tag and varint length.
        byte[] payload = new byte[limit - 64];
        Random.Shared.NextBytes(payload);
        var request = new EchoRequest { Message = "big", Payload = ByteString.CopyFrom(payload) };
        Assert.InRange(request.CalculateSize(), limit - 64, limit);

        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(EchoService.Duplex);
        // Read while writing: each message is larger than the HTTP/2 flow-control windows, so a
        // client that wrote everything before reading would stall both directions.
        Task<List<EchoReply>> replies = ReadAllAsync(call);
        await call.RequestStream.WriteAsync(request);
        await call.RequestStream.WriteAsync(request);
        await call.RequestStream.CompleteAsync();

        List<EchoReply> received = await replies.WaitAsync(WaitLimit);
        Assert.Equal(2, received.Count);
        Assert.All(received, reply => Assert.True(reply.Payload.Span.SequenceEqual(payload)));
    }

    [Fact]
    public async Task ClientCancellation_IsCancelledAndTheServerHandlerObservesIt()
    {
        using GrpcChannel channel = _server.CreateChannel();
        using var cancellation = new CancellationTokenSource();
        var request = new EchoRequest { Message = $"cancel-{Guid.NewGuid()}", WaitForCancellation = true };
        Task<EchoReply> call = channel.UnaryAsync(EchoService.Unary, request, cancellationToken: cancellation.Token);

        await _server.Echo.WaitStarted(request.Message).WaitAsync(WaitLimit);
        await cancellation.CancelAsync();

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await _server.Echo.CancellationObserved(request.Message).WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task ClientCancellation_OfAStreamingRead_CancelsTheCall()
    {
        using GrpcChannel channel = _server.CreateChannel();
        using var cancellation = new CancellationTokenSource();
        var request = new EchoRequest { Message = $"cancel-stream-{Guid.NewGuid()}", Count = 1, WaitForCancellation = true };

        RpcException error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (EchoReply reply in channel.ServerStreamingAsync(EchoService.ServerStream, request).WithCancellation(cancellation.Token))
            {
                await cancellation.CancelAsync();
            }
        });

        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await _server.Echo.CancellationObserved(request.Message).WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task Deadline_Exceeded_IsDeadlineExceededAndTheServerHandlerObservesIt()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var request = new EchoRequest { Message = $"deadline-{Guid.NewGuid()}", WaitForCancellation = true };
        var options = new CallOptions { Deadline = DateTimeOffset.UtcNow.AddMilliseconds(200) };

        RpcException error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(EchoService.Unary, request, options));

        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        await _server.Echo.CancellationObserved(request.Message).WaitAsync(WaitLimit);
    }

    [Fact]
    public async Task Deadline_AlreadyPassed_FailsWithoutCallingTheServer()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var options = new CallOptions { Deadline = DateTimeOffset.UtcNow.AddSeconds(-1) };
        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = "late" }, options));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
    }

    [Fact]
    public async Task Deadline_OnStreamingCall_EndsTheStreamWithDeadlineExceeded()
    {
        using GrpcChannel channel = _server.CreateChannel();
        var options = new CallOptions { Deadline = DateTimeOffset.UtcNow.AddMilliseconds(200) };
        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(EchoService.Duplex, options);
        await call.RequestStream.WriteAsync(new EchoRequest { Message = "first" });

        // The request stream is never completed, so only the deadline can end this call.
        RpcException error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (EchoReply unused in call.ReadAllAsync())
            {
            }
        });
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
    }

    private static async Task<List<EchoReply>> ReadAllAsync(DuplexStreamingCall<EchoRequest, EchoReply> call)
    {
        var replies = new List<EchoReply>();
        await foreach (EchoReply reply in call.ReadAllAsync())
        {
            replies.Add(reply);
        }

        return replies;
    }
}
