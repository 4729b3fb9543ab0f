using Google.Protobuf;
using Grpc.Core;
using RaftKv.Client.Protos;
using RaftKv.Client;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

public sealed class GatewayValidationTests : SingleGatewayTest
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await _client.PutAsync("warm-up", "registers the session");
    }

    public static TheoryData<string, int, int> BadWrites => new()
    {
        { "empty key", 0, 1 },
        { "oversized key", FakeRaftKvNode.SmallOptions.MaxKeyBytes + 1, 1 },
        { "oversized value", 1, FakeRaftKvNode.SmallOptions.MaxValueBytes + 1 },
    };

    [Theory]
    [MemberData(nameof(BadWrites))]
    public async Task Bad_put_is_invalid_argument_and_proposes_nothing(string reason, int keyBytes, int valueBytes)
    {
        ulong before = _node.LastIndex;
        var failure = await Assert.ThrowsAsync<RpcException>(() => _client.PutAsync(new byte[keyBytes].Select(_ => (byte)'k').ToArray(), new byte[valueBytes]));
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
        Assert.Contains(reason.Split(' ')[^1], failure.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(before, _node.LastIndex);
    }

    [Fact]
    public async Task Bad_compare_and_swap_and_get_are_invalid_argument()
    {
        ulong before = _node.LastIndex;
        var cas = await Assert.ThrowsAsync<RpcException>(() => _client.CompareAndSwapAsync("", CasExpectation.Absent, "v"));
        Assert.Equal(StatusCode.InvalidArgument, cas.StatusCode);
        var get = await Assert.ThrowsAsync<RpcException>(() => _client.GetAsync(""));
        Assert.Equal(StatusCode.InvalidArgument, get.StatusCode);
        Assert.Equal(before, _node.LastIndex);
    }

    [Fact]
    public async Task Zero_session_missing_sequence_and_missing_expectation_are_rejected_before_proposal()
    {
        using var channel = _server.CreateChannel();
        var kv = new KV.KVClient(channel);
        ulong before = _node.LastIndex;
        var key = ByteString.CopyFromUtf8("k");

        var zeroSession = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(new PutRequest { Sequence = 1, Key = key }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, zeroSession.StatusCode);
        Assert.Contains("session", zeroSession.Status.Detail, StringComparison.Ordinal);

        var zeroSequence = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(new PutRequest { SessionId = _client.SessionId, Key = key }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, zeroSequence.StatusCode);

        var noExpectation = await Assert.ThrowsAsync<RpcException>(() => kv.CompareAndSwapAsync(
            new CompareAndSwapRequest { SessionId = _client.SessionId, Sequence = 100, Key = key }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, noExpectation.StatusCode);

        var keepAlive = await Assert.ThrowsAsync<RpcException>(() => kv.KeepAliveAsync(new KeepAliveRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, keepAlive.StatusCode);

        Assert.Equal(before, _node.LastIndex);
    }

    [Fact]
    public async Task Unknown_session_is_invalid_argument()
    {
        using var channel = _server.CreateChannel();
        var kv = new KV.KVClient(channel);
        var failure = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(
            new PutRequest { SessionId = 1_000_000, Sequence = 1, Key = ByteString.CopyFromUtf8("k") }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
        Assert.Contains("unknown session", failure.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_lower_sequence_than_the_last_applied_is_failed_precondition()
    {
        using var channel = _server.CreateChannel();
        var kv = new KV.KVClient(channel);
        var session = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId;
        var key = ByteString.CopyFromUtf8("seq");
        await kv.PutAsync(new PutRequest { SessionId = session, Sequence = 5, Key = key });
        var failure = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(new PutRequest { SessionId = session, Sequence = 4, Key = key }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, failure.StatusCode);
    }
}
