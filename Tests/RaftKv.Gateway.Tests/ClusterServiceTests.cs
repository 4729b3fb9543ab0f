using Google.Protobuf;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.Gateway.Tests.Infrastructure;
using RaftKv.Node;

namespace RaftKv.Gateway.Tests;

/// <summary>The <c>raftkv.v1.Cluster</c> membership API over a fake node: routing, results and error mapping.</summary>
public sealed class ClusterServiceTests
{
    [Fact]
    public async Task MemberAddLearner_returns_the_new_membership_with_addresses_and_Status_shows_it()
    {
        using var node = new FakeRaftKvNode(1, [1, 2, 3]);
        await using var server = await GatewayTestServer.StartAsync(node);
        using var channel = server.CreateChannel();
        var cluster = new Cluster.ClusterClient(channel);

        MembershipResponse added = await cluster.MemberAddLearnerAsync(new MemberAddLearnerRequest
        {
            Id = 4, PeerAddress = "http://10.0.0.4:7204", ClientAddress = "http://10.0.0.4:7104",
        });

        Assert.Equal([1UL, 2, 3], added.Members.Where(m => m.Voter).Select(m => m.Id));
        Member learner = Assert.Single(added.Members, m => !m.Voter);
        Assert.Equal((4UL, "http://10.0.0.4:7204", "http://10.0.0.4:7104"), (learner.Id, learner.PeerAddress, learner.Address));
        Assert.Equal(1UL, added.LeaderId);
        Assert.Equal(["add 4"], node.AdminCalls);

        MembershipResponse listed = await cluster.MemberListAsync(new MemberListRequest());
        Assert.Equal(added.Members, listed.Members);
        StatusResponse status = await new KV.KVClient(channel).StatusAsync(new StatusRequest());
        Assert.False(status.ConfigurationPending);
    }

    [Fact]
    public async Task Bad_requests_are_invalid_arguments_and_refused_changes_are_failed_preconditions_and_nothing_changes()
    {
        using var node = new FakeRaftKvNode(1, [1, 2, 3]);
        await using var server = await GatewayTestServer.StartAsync(node);
        using var channel = server.CreateChannel();
        var cluster = new Cluster.ClusterClient(channel);

        var noId = await Assert.ThrowsAsync<RpcException>(() => cluster.MemberPromoteAsync(new MemberPromoteRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, noId.StatusCode);
        var badAddress = await Assert.ThrowsAsync<RpcException>(() => cluster.MemberAddLearnerAsync(new MemberAddLearnerRequest
        {
            Id = 4, PeerAddress = "10.0.0.4:7204", ClientAddress = "http://10.0.0.4:7104",
        }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, badAddress.StatusCode);
        Assert.Contains("peer address", badAddress.Status.Detail, StringComparison.Ordinal);

        node.AdminFault = new MembershipChangeRefusedException("learner 4 is 5000 entries behind, more than MaxPromotionLagEntries=1000");
        var refused = await Assert.ThrowsAsync<RpcException>(() => cluster.MemberPromoteAsync(new MemberPromoteRequest { Id = 4 }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("MaxPromotionLagEntries", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("false", refused.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
        Assert.Empty(node.AdminCalls);
    }

    [Fact]
    public async Task A_follower_forwards_changes_to_the_leader_gateway_and_with_no_forward_answers_with_the_leader()
    {
        using var leaderNode = new FakeRaftKvNode(1, [1, 2]);
        using var followerNode = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 1 };
        await using var leader = await GatewayTestServer.StartAsync(leaderNode);
        await using var follower = await GatewayTestServer.StartAsync(followerNode);
        followerNode.Addresses[1] = leader.Address;
        using var channel = follower.CreateChannel();
        var cluster = new Cluster.ClusterClient(channel);

        MembershipResponse transferred = await cluster.LeaderTransferAsync(new LeaderTransferRequest { TargetId = 2 });
        Assert.Equal(1UL, transferred.NodeId); // answered by the leader
        Assert.Equal(["transfer 2"], leaderNode.AdminCalls);
        Assert.Empty(followerNode.AdminCalls);

        var hinted = await Assert.ThrowsAsync<RpcException>(() => cluster.MemberRemoveAsync(new MemberRemoveRequest { Id = 2 },
            new Metadata { { KvMetadata.NoForwardHeader, "1" } }).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, hinted.StatusCode);
        Assert.Equal("1", hinted.Trailers.GetValue(KvMetadata.LeaderIdTrailer));
        Assert.Equal(leader.Address, hinted.Trailers.GetValue(KvMetadata.LeaderEndpointTrailer));
    }

    [Fact]
    public async Task A_write_refused_during_a_leadership_transfer_is_unavailable_naming_the_target_and_was_not_applied()
    {
        using var node = new FakeRaftKvNode(1, [1, 2, 3]);
        await using var server = await GatewayTestServer.StartAsync(node);
        node.Addresses[3] = "http://127.0.0.1:7103";
        using var channel = server.CreateChannel();
        var kv = new KV.KVClient(channel);
        var session = await kv.RegisterSessionAsync(new RegisterSessionRequest());
        node.ProposeFault = new UnavailableException("leadership is being transferred to node 3; retry there", mayHaveBeenApplied: false, leaderHint: 3);

        var refused = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(new PutRequest
        {
            SessionId = session.SessionId, Sequence = 1, Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v"),
        }).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("node 3", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("3", refused.Trailers.GetValue(KvMetadata.LeaderIdTrailer));
        Assert.Equal("http://127.0.0.1:7103", refused.Trailers.GetValue(KvMetadata.LeaderEndpointTrailer));
        Assert.Equal("false", refused.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));
    }
}
