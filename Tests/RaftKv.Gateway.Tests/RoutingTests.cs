using System.Text;
using Google.Protobuf;
using Grpc.Core;
using RaftKv.Client.Protos;
using RaftKv.Client;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

public sealed class RoutingTests
{
    [Fact]
    public async Task Client_channels_do_without_grpc_client_side_load_balancing_and_still_reach_the_gateway()
    {
        // The client picks its endpoint itself (leader hints), so its handler turns Grpc.Net.Client's balancer off;
        // Grpc.Net.Client tracks connectivity state only through that balancer, so a channel without one refuses the question.
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node);
        using var handler = new RaftKvClientOptions().CreateHttpHandler();
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(server.Address, new Grpc.Net.Client.GrpcChannelOptions { HttpHandler = handler });
        var refused = Assert.Throws<InvalidOperationException>(() => channel.State);
        Assert.Contains("load balancing", refused.Message, StringComparison.Ordinal);

        var status = await new KV.KVClient(channel).StatusAsync(new StatusRequest());
        Assert.Equal(1UL, status.NodeId);
    }

    [Fact]
    public async Task No_leader_is_unavailable_and_nothing_is_applied()
    {
        using var node = new FakeRaftKvNode(1) { LeaderId = 0 };
        await using var server = await GatewayTestServer.StartAsync(node);
        await using var client = server.CreateClient(maxAttempts: 2);

        var write = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("k", "v"));
        Assert.Equal(StatusCode.Unavailable, write.StatusCode);
        Assert.Contains("no leader", write.Status.Detail, StringComparison.Ordinal);

        var read = await Assert.ThrowsAsync<RpcException>(() => client.GetAsync("k"));
        Assert.Equal(StatusCode.Unavailable, read.StatusCode);

        Assert.Equal(0UL, node.LastIndex);
    }

    [Fact]
    public async Task A_follower_gateway_forwards_writes_and_reads_to_the_leader_gateway()
    {
        using var leaderNode = new FakeRaftKvNode(1, [1, 2]);
        using var followerNode = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 1 };
        await using var leader = await GatewayTestServer.StartAsync(leaderNode);
        await using var follower = await GatewayTestServer.StartAsync(followerNode);
        followerNode.Addresses[1] = leader.Address;

        using var channel = follower.CreateChannel();

        var kv = new KV.KVClient(channel);
        var session = await kv.RegisterSessionAsync(new RegisterSessionRequest());
        var put = await kv.PutAsync(new PutRequest
        {
            SessionId = session.SessionId, Sequence = 1, Key = ByteString.CopyFromUtf8("fwd"), Value = ByteString.CopyFromUtf8("v"),
        });

        Assert.Equal(leaderNode.LastIndex, put.ModRevision);
        Assert.Equal(0UL, followerNode.LastIndex);
        Assert.Equal("v", Encoding.UTF8.GetString(leaderNode.StateMachine.Get("fwd"u8.ToArray())!.Value.Span));

        // Reads are served by the contacted node's own replica (after ReadIndex when linearizable), never
        // forwarded; this fake follower never applies, so its local state is still empty.
        var staleRead = await kv.GetAsync(new GetRequest { Key = ByteString.CopyFromUtf8("fwd"), Consistency = Consistency.Stale });
        Assert.False(staleRead.Found);
    }

    [Fact]
    public async Task With_the_no_forward_header_a_follower_answers_unavailable_with_the_leader_hint_in_trailers()
    {
        using var leaderNode = new FakeRaftKvNode(1, [1, 2]);
        using var followerNode = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 1 };
        await using var leader = await GatewayTestServer.StartAsync(leaderNode);
        await using var follower = await GatewayTestServer.StartAsync(followerNode);
        followerNode.Addresses[1] = leader.Address;

        using var channel = follower.CreateChannel();

        var kv = new KV.KVClient(channel);
        var options = new CallOptions(headers: new Metadata { { KvMetadata.NoForwardHeader, "1" } });
        var failure = await Assert.ThrowsAsync<RpcException>(() => kv.RegisterSessionAsync(new RegisterSessionRequest(), options).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
        Assert.Equal("1", failure.Trailers.GetValue(KvMetadata.LeaderIdTrailer));
        Assert.Equal(leader.Address, failure.Trailers.GetValue(KvMetadata.LeaderEndpointTrailer));
        Assert.Equal("false", failure.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
        Assert.Equal(0UL, leaderNode.LastIndex);
    }

    [Fact]
    public async Task A_client_seeded_with_a_follower_finds_the_leader_through_status()
    {
        using var leaderNode = new FakeRaftKvNode(1, [1, 2]);
        using var followerNode = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 1 };
        await using var leader = await GatewayTestServer.StartAsync(leaderNode);
        await using var follower = await GatewayTestServer.StartAsync(followerNode);
        followerNode.Addresses[1] = leader.Address;
        leaderNode.Addresses[2] = follower.Address;

        await using var client = follower.CreateClient();
        await client.PutAsync("k", "v");

        Assert.Equal(leader.Address, client.CurrentEndpoint);
        Assert.Equal("v", Encoding.UTF8.GetString((await client.GetAsync("k"))!.Value));
    }

    [Fact]
    public async Task A_client_whose_gateway_lost_leadership_moves_to_the_leader_after_one_forwarded_write()
    {
        using var node1 = new FakeRaftKvNode(1, [1, 2]) { LeaderId = 2 };
        using var node2 = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 2 };
        await using var server1 = await GatewayTestServer.StartAsync(node1);
        await using var server2 = await GatewayTestServer.StartAsync(node2);
        node1.Addresses[2] = server2.Address;
        node2.Addresses[1] = server1.Address;
        // The fakes do not replicate: give node 1 the session the client will register on node 2 (id 1, the first entry).
        node1.LeaderId = 1;
        await node1.ProposeAsync(RaftKv.StateMachine.KvCommand.RegisterSession(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).Encode(), CancellationToken.None);
        node1.LeaderId = 2;

        await using var client = server2.CreateClient();
        await client.PutAsync("a", "1");
        Assert.Equal(server2.Address, client.CurrentEndpoint);

        // Leadership moves to node 1. The client's next write reaches node 2, which forwards it and names the leader
        // in the OK response's trailers; the client goes there directly from then on.
        node1.LeaderId = 1;
        node2.LeaderId = 1;
        await client.PutAsync("b", "2");
        Assert.Equal("2", Encoding.UTF8.GetString(node1.StateMachine.Get("b"u8.ToArray())!.Value.Span));
        Assert.Equal(server1.Address, client.CurrentEndpoint);
        ulong node2Index = node2.LastIndex;
        await client.PutAsync("c", "3");
        Assert.Equal(node2Index, node2.LastIndex);
        Assert.NotNull(node1.StateMachine.Get("c"u8.ToArray()));
    }

    [Fact]
    public async Task A_client_rotates_past_an_unreachable_seed()
    {
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node);
        await using var client = new RaftKvClient(new RaftKvClientOptions
        {
            Endpoints = [ClosedPort.Address(), server.Address],
            InitialBackoffMs = 10,
        });

        await client.PutAsync("k", "v");
        Assert.Equal("v", Encoding.UTF8.GetString((await client.GetAsync("k"))!.Value));
    }
}

/// <summary>An address on which nothing listens (a port bound, then released).</summary>
internal static class ClosedPort
{
    public static string Address()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }
}
