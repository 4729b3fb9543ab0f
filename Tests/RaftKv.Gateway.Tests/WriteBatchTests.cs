using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.Gateway.Tests.Infrastructure;
using RaftKv.Node;

namespace RaftKv.Gateway.Tests;

/// <summary>WriteBatch on the gateway, and the client's batching of writes from clients that share a handler.</summary>
public sealed class WriteBatchTests : SingleGatewayTest
{
    [Fact]
    public async Task Each_write_of_a_batch_is_answered_as_its_own_call_would_be_and_a_resent_batch_applies_nothing_twice()
    {
        (var channel, var kv) = _server.CreateKvClient();
        using var _ = channel;
        ulong[] sessions = new ulong[4];
        for (int i = 0; i < sessions.Length; i++) sessions[i] = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId;
        var batch = new WriteBatchRequest();
        batch.Ops.Add(new WriteOp { Put = new PutRequest { SessionId = sessions[0], Sequence = 1, Key = Bytes("a"), Value = Bytes("1") } });
        batch.Ops.Add(new WriteOp { Delete = new DeleteRequest { SessionId = sessions[1], Sequence = 1, Key = Bytes("absent") } });
        batch.Ops.Add(new WriteOp { CompareAndSwap = new CompareAndSwapRequest { SessionId = sessions[2], Sequence = 1, Key = Bytes("a"), ExpectedValue = Bytes("other"), NewValue = Bytes("2") } });
        batch.Ops.Add(new WriteOp { Put = new PutRequest { SessionId = sessions[3], Sequence = 1, Key = ByteString.Empty, Value = Bytes("x") } });

        WriteBatchResponse first = await kv.WriteBatchAsync(batch);

        Assert.Equal(4, first.Results.Count);
        Assert.Equal(WriteResult.ResultOneofCase.Put, first.Results[0].ResultCase);
        ulong putRevision = first.Results[0].Put.ModRevision;
        Assert.True(putRevision > 0);
        Assert.False(first.Results[1].Delete.Deleted);
        // The CAS ran after or before the put (each session in its own gate), and failed either way: "a" is never "other".
        Assert.False(first.Results[2].CompareAndSwap.Succeeded);
        // An invalid write fails alone, with the status and trailers its own call gets, and proposes nothing.
        RpcException invalid = KvMetadata.ToRpcException(first.Results[3].Error);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.False(KvMetadata.MayHaveApplied(invalid));
        Assert.Equal("1", Encoding.UTF8.GetString((await _client.GetAsync("a"))!.Value));

        // The same batch again (a client's retry of every write in it): each applied write answers from the session
        // table with its original reply; nothing is applied again.
        WriteBatchResponse again = await kv.WriteBatchAsync(batch);
        Assert.Equal(putRevision, again.Results[0].Put.ModRevision);
        Assert.Equal(putRevision, (await _client.GetAsync("a"))!.ModRevision);
        Assert.Equal(first.Results[2], again.Results[2]);
    }

    [Fact]
    public async Task A_write_that_fails_unexpectedly_reports_unknown_in_its_result_and_may_have_applied()
    {
        (var channel, var kv) = _server.CreateKvClient();
        using var _ = channel;
        ulong session = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId;
        _node.ProposeFault = new InvalidOperationException("the disk is on fire");
        var batch = new WriteBatchRequest();
        batch.Ops.Add(new WriteOp { Put = new PutRequest { SessionId = session, Sequence = 1, Key = Bytes("k"), Value = Bytes("v") } });

        WriteBatchResponse response = await kv.WriteBatchAsync(batch);

        // As a single call whose handler threw: UNKNOWN, nothing said about whether it was applied (so it may have been).
        RpcException failure = KvMetadata.ToRpcException(response.Results.Single().Error);
        Assert.Equal(StatusCode.Unknown, failure.StatusCode);
        Assert.True(KvMetadata.MayHaveApplied(failure));
        Assert.DoesNotContain("fire", failure.Status.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0UL, "no leader")]
    [InlineData(2UL, "the leader is node 2")]
    public async Task A_write_that_finds_the_node_no_longer_leading_fails_alone_with_the_leader_hint(ulong newLeader, string says)
    {
        (var channel, var kv) = _server.CreateKvClient();
        using var _ = channel;
        ulong session = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId;
        _node.Addresses[2] = "http://127.0.0.1:2";
        // Leadership lost between the batch's check and this write's proposal.
        _node.ProposeFault = new NotLeaderException(newLeader);
        var batch = new WriteBatchRequest();
        batch.Ops.Add(new WriteOp { Put = new PutRequest { SessionId = session, Sequence = 1, Key = Bytes("k"), Value = Bytes("v") } });

        RpcException failure = KvMetadata.ToRpcException((await kv.WriteBatchAsync(batch)).Results.Single().Error);

        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
        Assert.Contains(says, failure.Status.Detail, StringComparison.Ordinal);
        Assert.False(KvMetadata.MayHaveApplied(failure));
        Assert.Equal(newLeader == 0 ? null : "http://127.0.0.1:2", KvMetadata.LeaderEndpoint(failure));
    }

    [Fact]
    public async Task An_empty_batch_or_one_with_two_writes_of_a_session_is_refused_whole()
    {
        (var channel, var kv) = _server.CreateKvClient();
        using var _ = channel;
        ulong before = _node.LastIndex;

        var empty = await Assert.ThrowsAsync<RpcException>(() => kv.WriteBatchAsync(new WriteBatchRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);

        var twice = new WriteBatchRequest();
        twice.Ops.Add(new WriteOp { Put = new PutRequest { SessionId = 7, Sequence = 1, Key = Bytes("k"), Value = Bytes("1") } });
        twice.Ops.Add(new WriteOp { Put = new PutRequest { SessionId = 7, Sequence = 2, Key = Bytes("k"), Value = Bytes("2") } });
        var refused = await Assert.ThrowsAsync<RpcException>(() => kv.WriteBatchAsync(twice).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("session 7", refused.Status.Detail, StringComparison.Ordinal);

        var noWrite = new WriteBatchRequest();
        noWrite.Ops.Add(new WriteOp());
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => kv.WriteBatchAsync(noWrite).ResponseAsync)).StatusCode);
        Assert.Equal(before, _node.LastIndex);
    }

    [Fact]
    public async Task A_follower_forwards_a_batch_to_the_leader_and_names_it_in_the_trailers()
    {
        using var followerNode = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 1 };
        await using var follower = await GatewayTestServer.StartAsync(followerNode);
        followerNode.Addresses[1] = _server.Address;
        (var channel, var kv) = follower.CreateKvClient();
        using var _ = channel;
        ulong session = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId;
        var batch = new WriteBatchRequest();
        batch.Ops.Add(new WriteOp { Put = new PutRequest { SessionId = session, Sequence = 1, Key = Bytes("fwd"), Value = Bytes("v") } });

        using var call = kv.WriteBatchAsync(batch);
        WriteBatchResponse response = await call.ResponseAsync;

        Assert.Equal(_node.LastIndex, response.Results.Single().Put.ModRevision);
        Assert.Equal(0UL, followerNode.LastIndex);
        Assert.Equal(_server.Address, call.GetTrailers().GetValue(KvMetadata.LeaderEndpointTrailer));
    }

    [Fact]
    public async Task Clients_sharing_a_handler_send_their_concurrent_writes_together_and_each_is_applied_once()
    {
        using var handler = new CountingHandler(new RaftKvClientOptions().CreateHttpHandler());
        const int clients = 32, rounds = 20;
        var all = Enumerable.Range(0, clients).Select(_ => SharedClient(handler)).ToArray();
        try
        {
            for (int round = 0; round < rounds; round++)
            {
                int r = round;
                // Every fifth round loses one reply after its write was applied: that write alone is retried.
                if (r % 5 == 4) _node.DropNextReplies(1);
                await Task.WhenAll(all.Select((client, c) => client.PutAsync($"k{c}", $"{r}")));
            }
        }
        finally
        {
            foreach (RaftKvClient client in all) await client.DisposeAsync();
        }

        for (int c = 0; c < clients; c++) Assert.Equal($"{rounds - 1}", Encoding.UTF8.GetString((await _client.GetAsync($"k{c}"))!.Value));
        Assert.Equal(0, handler.Calls("/raftkv.v1.KV/Put"));
        int batches = handler.Calls("/raftkv.v1.KV/WriteBatch");
        // Fewer calls than writes: concurrent writes shared calls (640 writes, plus 4 retried ones).
        Assert.InRange(batches, 1, clients * rounds - 1);
    }

    [Fact]
    public async Task Large_writes_are_split_across_batches_that_stay_within_the_smallest_message_limit_a_gateway_may_have()
    {
        using var handler = new CountingHandler(new RaftKvClientOptions().CreateHttpHandler()) { MeasureWriteBatches = true };
        var all = Enumerable.Range(0, 8).Select(_ => SharedClient(handler)).ToArray();
        byte[] value = new byte[FakeRaftKvNode.SmallOptions.MaxValueBytes];
        Random.Shared.NextBytes(value);
        try
        {
            foreach (RaftKvClient client in all) await client.PutAsync("register", "x"); // sessions first, so the puts below start together
            for (int round = 0; round < 5; round++)
            {
                await Task.WhenAll(all.Select((client, c) => client.PutAsync(Encoding.UTF8.GetBytes($"big{c}"), value)));
            }
        }
        finally
        {
            foreach (RaftKvClient client in all) await client.DisposeAsync();
        }

        for (int c = 0; c < all.Length; c++) Assert.Equal(value, (await _client.GetAsync($"big{c}"))!.Value);
        // 40 writes of 16 KiB: at most three fit in a call of 64 KiB (a gateway's smallest allowed message limit).
        Assert.InRange(handler.LargestWriteBatchBytes, 1, 64 * 1024);
        Assert.True(handler.Calls("/raftkv.v1.KV/WriteBatch") >= 40 / 3 + 8, $"{handler.Calls("/raftkv.v1.KV/WriteBatch")} WriteBatch calls");
    }

    [Fact]
    public async Task A_gateway_without_write_batch_gets_single_calls_and_the_write_is_applied_once()
    {
        // A gateway that predates WriteBatch answers UNIMPLEMENTED; nothing was run, so the client sends the write alone.
        using var handler = new CountingHandler(new RaftKvClientOptions().CreateHttpHandler()) { RefuseWriteBatch = true };
        await using var client = SharedClient(handler);
        ulong before = _node.LastIndex;

        var first = await client.PutAsync("old", "1");
        var second = await client.PutAsync("old", "2");

        Assert.Equal(1, handler.Calls("/raftkv.v1.KV/WriteBatch"));
        Assert.Equal(2, handler.Calls("/raftkv.v1.KV/Put"));
        Assert.Equal(before + 3, _node.LastIndex); // the session's registration, then the two puts
        Assert.Equal(first.ModRevision + 1, second.ModRevision);
    }

    [Fact]
    public async Task With_batching_off_clients_sharing_a_handler_send_single_calls()
    {
        using var handler = new CountingHandler(new RaftKvClientOptions().CreateHttpHandler());
        await using var client = SharedClient(handler, batch: false);
        await client.PutAsync("single", "1");
        await client.DeleteAsync("single");
        Assert.Equal(0, handler.Calls("/raftkv.v1.KV/WriteBatch"));
        Assert.Equal(1, handler.Calls("/raftkv.v1.KV/Put"));
        Assert.Equal(1, handler.Calls("/raftkv.v1.KV/Delete"));
    }

    private RaftKvClient SharedClient(HttpMessageHandler handler, bool batch = true) => new(new RaftKvClientOptions
    {
        Endpoints = [_server.Address],
        SharedHttpHandler = handler,
        BatchWrites = batch,
        InitialBackoffMs = 10,
        MaxBackoffMs = 100,
    });

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    /// <summary>Counts gRPC calls by path; can answer WriteBatch as a gateway that does not have it.</summary>
    private sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);

        private int _largestWriteBatchBytes;

        public bool RefuseWriteBatch { get; init; }

        /// <summary>Buffers each WriteBatch request to record its size (<see cref="LargestWriteBatchBytes"/>).</summary>
        public bool MeasureWriteBatches { get; init; }

        public int LargestWriteBatchBytes => Volatile.Read(ref _largestWriteBatchBytes);

        public int Calls(string path) => _calls.GetValueOrDefault(path);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string path = request.RequestUri!.AbsolutePath;
            _calls.AddOrUpdate(path, 1, static (_, n) => n + 1);
            if (MeasureWriteBatches && path.EndsWith("/WriteBatch", StringComparison.Ordinal))
            {
                byte[] body = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
                int seen;
                while ((seen = Volatile.Read(ref _largestWriteBatchBytes)) < body.Length && Interlocked.CompareExchange(ref _largestWriteBatchBytes, body.Length, seen) != seen)
                {
                }
                var buffered = new ByteArrayContent(body);
                foreach (var header in request.Content.Headers) buffered.Headers.TryAddWithoutValidation(header.Key, header.Value);
                request.Content = buffered;
            }
            if (RefuseWriteBatch && path.EndsWith("/WriteBatch", StringComparison.Ordinal))
            {
                // gRPC's trailers-only response: status 200, grpc-status in the headers, no body.
                var refused = new HttpResponseMessage(HttpStatusCode.OK) { Version = HttpVersion.Version20, Content = new ByteArrayContent([]) };
                refused.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
                refused.Headers.Add("grpc-status", ((int)StatusCode.Unimplemented).ToString(System.Globalization.CultureInfo.InvariantCulture));
                refused.Headers.Add("grpc-message", "Method is unimplemented.");
                return refused;
            }
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
