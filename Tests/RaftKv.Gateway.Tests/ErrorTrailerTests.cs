using System.Text;
using Google.Protobuf;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.ClientGateway;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

/// <summary>
/// Every error the gateway produces carries structured trailers (docs/api.md): whether the command may have been
/// applied, the leader hint, and session expiry. Stock generated clients read them; nothing parses status text.
/// </summary>
public sealed class ErrorTrailerTests
{
    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);

    [Fact]
    public async Task Refusals_before_proposal_say_the_command_was_not_applied()
    {
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node);
        (var channel, var kv) = server.CreateKvClient();
        using var _ = channel;

        var invalid = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(new PutRequest { SessionId = 1, Sequence = 1 }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal("false", invalid.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));

        // Keys under __raftkv/ are the node runtime's (the members' address book): refused before anything is proposed.
        ulong before = node.LastIndex;
        foreach (var call in new Func<Task>[]
        {
            () => kv.PutAsync(new PutRequest { SessionId = 1, Sequence = 1, Key = Bytes("__raftkv/members"), Value = Bytes("1 http://evil:1 http://evil:2") }).ResponseAsync,
            () => kv.DeleteAsync(new DeleteRequest { SessionId = 1, Sequence = 1, Key = Bytes("__raftkv/members") }).ResponseAsync,
            () => kv.CompareAndSwapAsync(new CompareAndSwapRequest { SessionId = 1, Sequence = 1, Key = Bytes("__raftkv/x"), ExpectedAbsent = true, NewValue = Bytes("v") }).ResponseAsync,
        })
        {
            var reserved = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.InvalidArgument, reserved.StatusCode);
            Assert.Contains("reserved", reserved.Status.Detail, StringComparison.Ordinal);
            Assert.Equal("false", reserved.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
        }
        Assert.Equal(before, node.LastIndex);

        node.LeaderId = 0;
        var noLeader = await Assert.ThrowsAsync<RpcException>(() => kv.RegisterSessionAsync(new RegisterSessionRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, noLeader.StatusCode);
        Assert.Equal("false", noLeader.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
        Assert.Null(noLeader.Trailers.GetValue(KvMetadata.LeaderEndpointTrailer));
        var read = await Assert.ThrowsAsync<RpcException>(() => kv.GetAsync(new GetRequest { Key = Bytes("k") }).ResponseAsync);
        Assert.Equal("false", read.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
        Assert.Equal(0UL, node.LastIndex);
    }

    [Fact]
    public async Task A_write_whose_reply_was_lost_says_it_may_have_been_applied()
    {
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node);
        (var channel, var kv) = server.CreateKvClient();
        using var _ = channel;
        ulong session = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId;
        node.DropNextReplies(1);

        var lost = await Assert.ThrowsAsync<RpcException>(() =>
            kv.PutAsync(new PutRequest { SessionId = session, Sequence = 1, Key = Bytes("k"), Value = Bytes("v") }).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, lost.StatusCode);
        Assert.Equal("true", lost.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
        Assert.True(KvMetadata.MayHaveApplied(lost));
        // It was applied; the retry with the same sequence returns the original reply.
        var retry = await kv.PutAsync(new PutRequest { SessionId = session, Sequence = 1, Key = Bytes("k"), Value = Bytes("v") });
        Assert.Equal(node.LastIndex - 1, retry.ModRevision);
    }

    [Fact]
    public async Task An_expired_session_is_a_trailer_not_a_message_prefix()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node, clock);
        (var channel, var kv) = server.CreateKvClient();
        using var _ = channel;
        ulong session = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId;
        clock.Advance(TimeSpan.FromMilliseconds(FakeRaftKvNode.SmallOptions.SessionTimeoutMs * 2));
        await kv.RegisterSessionAsync(new RegisterSessionRequest()); // carries the new time into the log

        var expired = await Assert.ThrowsAsync<RpcException>(() =>
            kv.PutAsync(new PutRequest { SessionId = session, Sequence = 1, Key = Bytes("k"), Value = Bytes("v") }).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, expired.StatusCode);
        Assert.Equal("true", expired.Trailers.GetValue(KvMetadata.SessionExpiredTrailer));
        Assert.Equal("false", expired.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
        Assert.True(KvMetadata.IsSessionExpired(expired));
    }

    [Fact]
    public async Task A_forwarded_request_passes_the_leaders_trailers_back()
    {
        using var leaderNode = new FakeRaftKvNode(1, [1, 2]);
        using var followerNode = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 1 };
        await using var leader = await GatewayTestServer.StartAsync(leaderNode);
        await using var follower = await GatewayTestServer.StartAsync(followerNode);
        followerNode.Addresses[1] = leader.Address;
        (var channel, var kv) = follower.CreateKvClient();
        using var _ = channel;

        var unknownSession = await Assert.ThrowsAsync<RpcException>(() =>
            kv.PutAsync(new PutRequest { SessionId = 12345, Sequence = 1, Key = Bytes("k"), Value = Bytes("v") }).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, unknownSession.StatusCode);
        Assert.Contains("unknown session", unknownSession.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("false", unknownSession.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
    }

    [Fact]
    public async Task The_client_follows_the_leader_endpoint_trailer_after_leadership_moves()
    {
        using var node1 = new FakeRaftKvNode(1, [1, 2]) { LeaderId = 2 };
        using var node2 = new FakeRaftKvNode(2, [1, 2]);
        var noForwarding = new KvGatewayOptions { ForwardToLeader = false };
        await using var gateway1 = await GatewayTestServer.StartAsync(node1, options: noForwarding);
        await using var gateway2 = await GatewayTestServer.StartAsync(node2, options: noForwarding);
        foreach (FakeRaftKvNode node in new[] { node1, node2 })
        {
            node.Addresses[1] = gateway1.Address;
            node.Addresses[2] = gateway2.Address;
        }
        await using var client = new RaftKvClient(new RaftKvClientOptions { Endpoints = [gateway2.Address], InitialBackoffMs = 10 });
        await client.GetAsync("warm-up"); // discovers node 2 as the leader
        Assert.Equal(gateway2.Address, client.CurrentEndpoint);

        // Leadership moves to node 1 (a fresh leader knows no sessions: the write registers anew there).
        node1.LeaderId = 1;
        node2.LeaderId = 1;
        await client.PutAsync("k", "v");

        Assert.Equal(gateway1.Address, client.CurrentEndpoint);
        Assert.Equal("v", Encoding.UTF8.GetString(node1.StateMachine.Get("k"u8.ToArray())!.Value.Span));
        Assert.Equal(0UL, node2.LastIndex);
    }
}
