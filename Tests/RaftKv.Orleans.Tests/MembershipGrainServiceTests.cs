using RaftKv.Grains;
using RaftKv.TestingHost;

namespace RaftKv.Orleans.Tests;

/// <summary>The membership calls of the RaftNode grain service (what Orleans code uses instead of the gRPC Cluster service).</summary>
[Collection("raftkv test clusters")]
public sealed class MembershipGrainServiceTests(SharedClusterFixture fixture)
{
    private RaftKvTestCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task Members_are_listed_leadership_moves_to_the_target_and_refusals_are_typed()
    {
        var leaderSilo = await Cluster.WaitForLeaderAsync(Deadlines.Election);
        IRaftNodeService leader = Cluster.RaftNodeOf(leaderSilo);
        ulong leaderId = Cluster.NodeIdOf(leaderSilo);

        RaftMembership members = await leader.ListMembersAsync();
        Assert.Equal(new ulong[] { 1, 2, 3 }, members.Members.Where(m => m.Voter).Select(m => m.NodeId).Order());
        Assert.All(members.Members, m => Assert.StartsWith("http://", m.PeerAddress, StringComparison.Ordinal));
        Assert.Equal(leaderId, members.LeaderId);

        var followerSilo = Cluster.Silos.First(s => Cluster.NodeIdOf(s) != leaderId);
        var notLeader = await Assert.ThrowsAsync<RaftKvNotLeaderException>(() => Cluster.RaftNodeOf(followerSilo).RemoveMemberAsync(leaderId));
        Assert.Equal(leaderId, notLeader.LeaderNodeId);
        var refused = await Assert.ThrowsAsync<RaftKvMembershipChangeRefusedException>(() => leader.PromoteLearnerAsync(Cluster.NodeIdOf(followerSilo)));
        Assert.False(refused.IsRetryable);
        await Assert.ThrowsAsync<RaftKvInvalidArgumentException>(() => leader.AddLearnerAsync(9, "not a uri", "http://127.0.0.1:1"));

        ulong target = Cluster.NodeIdOf(followerSilo);
        RaftMembership moved = await leader.TransferLeadershipAsync(target);
        Assert.Equal(target, moved.LeaderId);
        Assert.Equal(target, Cluster.NodeIdOf(await Cluster.WaitForLeaderAsync(Deadlines.Election)));
        Assert.Equal(target, (await Cluster.RaftNodeOf(followerSilo).GetStatusAsync()).LeaderId);
    }
}
