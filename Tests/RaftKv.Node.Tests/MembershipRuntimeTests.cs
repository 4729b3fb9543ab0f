using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Node.Tests;

/// <summary>Membership changes, leadership transfer and fail-fast on leadership loss through the node runtime (Raft thesis 3.10, 4).</summary>
[Collection(NodeMetersCollection.Name)]
public sealed class MembershipRuntimeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_joining_node_is_added_as_a_learner_catches_up_and_is_promoted_and_every_node_learns_its_addresses()
    {
        await using var cluster = new InMemoryNodeCluster(3);
        RaftDriver leader = cluster[await cluster.WaitForLeaderAsync()];
        var write = await cluster.SessionWriterAsync(leader);
        for (int i = 0; i < 20; i++) Assert.True((await write(leader, i)).Succeeded);

        RaftDriver joining = cluster.Start(4, join: true);
        Assert.Empty(joining.Status.Configuration.Voters);
        ClusterMembership added = await leader.AddLearnerAsync(InMemoryNodeCluster.MemberOf(4), new CancellationTokenSource(Deadline).Token);

        Assert.False(added.Pending);
        Assert.Equal([1UL, 2, 3], added.Voters.Select(m => m.Id));
        RaftMember learner = Assert.Single(added.Learners);
        Assert.Equal((4UL, "http://127.0.0.1:7204", "http://127.0.0.1:7104"), (learner.Id, learner.PeerAddress, learner.ClientAddress));
        // A retried join (same addresses) is answered with the current membership, not an error.
        Assert.Equal(added.Members, (await leader.AddLearnerAsync(InMemoryNodeCluster.MemberOf(4), CancellationToken.None)).Members);

        await Eventually.TrueAsync(() => joining.StateMachine.AppliedIndex >= leader.Status.CommitIndex, "the learner catches up");
        ClusterMembership promoted = await leader.PromoteLearnerAsync(4, new CancellationTokenSource(Deadline).Token);
        Assert.Equal([1UL, 2, 3, 4], promoted.Voters.Select(m => m.Id));
        Assert.Empty(promoted.Learners);

        // Every node, the joined one included, knows the new member's client address (from the replicated address book).
        await Eventually.TrueAsync(() => cluster.Running.All(d => d.ClientAddressOf(4) == "http://127.0.0.1:7104" && d.Status.Configuration.IsVoter(4)),
            "every node sees node 4 as a voter with its address");
        Assert.Equal("http://127.0.0.1:7101", joining.ClientAddressOf(1));
        Assert.True((await write(leader, 100)).Succeeded);
    }

    [Fact]
    public async Task Promotion_is_refused_while_the_learner_is_more_than_MaxPromotionLagEntries_behind_and_bad_changes_are_refused_clearly()
    {
        await using var cluster = new InMemoryNodeCluster(3, o => o with { MaxPromotionLagEntries = 5 });
        RaftDriver leader = cluster[await cluster.WaitForLeaderAsync()];
        // Node 4 is added but never started: it cannot catch up.
        await leader.AddLearnerAsync(InMemoryNodeCluster.MemberOf(4), new CancellationTokenSource(Deadline).Token);
        var write = await cluster.SessionWriterAsync(leader);
        for (int i = 0; i < 10; i++) Assert.True((await write(leader, i)).Succeeded);

        var lagging = await Assert.ThrowsAsync<MembershipChangeRefusedException>(() => leader.PromoteLearnerAsync(4, CancellationToken.None));
        Assert.Contains("behind", lagging.Message, StringComparison.Ordinal);
        Assert.Contains("MaxPromotionLagEntries=5", lagging.Message, StringComparison.Ordinal);

        await Assert.ThrowsAsync<MembershipChangeRefusedException>(() => leader.PromoteLearnerAsync(2, CancellationToken.None)); // already a voter
        await Assert.ThrowsAsync<MembershipChangeRefusedException>(() => leader.RemoveMemberAsync(9, CancellationToken.None)); // not a member
        await Assert.ThrowsAsync<MembershipChangeRefusedException>(() => leader.AddLearnerAsync(InMemoryNodeCluster.MemberOf(2), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => leader.AddLearnerAsync(new NodeMember { Id = 7, PeerAddress = "not a uri", ClientAddress = "http://x:1" }, CancellationToken.None));
        RaftDriver follower = cluster.Running.First(d => d.NodeId != leader.NodeId && d.Status.Configuration.IsVoter(d.NodeId));
        var notLeader = await Assert.ThrowsAsync<NotLeaderException>(() => follower.RemoveMemberAsync(4, CancellationToken.None));
        Assert.Equal(leader.NodeId, notLeader.LeaderHint);
        Assert.Equal([1UL, 2, 3], leader.Membership.Voters.Select(m => m.Id)); // nothing changed
        Assert.Equal([4UL], leader.Membership.Learners.Select(m => m.Id));

        ClusterMembership removed = await leader.RemoveMemberAsync(4, new CancellationTokenSource(Deadline).Token);
        Assert.Empty(removed.Learners);
    }

    [Fact]
    public async Task Leadership_transfer_completes_when_the_target_leads_and_the_new_leader_takes_writes()
    {
        await using var cluster = new InMemoryNodeCluster(3);
        RaftDriver leader = cluster[await cluster.WaitForLeaderAsync()];
        var write = await cluster.SessionWriterAsync(leader);
        Assert.True((await write(leader, 1)).Succeeded);
        ulong target = cluster.Running.First(d => d.NodeId != leader.NodeId).NodeId;
        ulong termBefore = leader.Status.Term;

        ClusterMembership after = await leader.TransferLeadershipAsync(target, new CancellationTokenSource(Deadline).Token);

        Assert.Equal(target, after.LeaderId);
        Assert.True(after.Term > termBefore);
        await Eventually.TrueAsync(() => cluster[target].Status.Role == RaftRole.Leader, "the target knows it leads");
        Assert.True((await write(cluster[target], 2)).Succeeded);
        // Transferring to the node that already leads is answered at once.
        Assert.Equal(target, (await cluster[target].TransferLeadershipAsync(target, CancellationToken.None)).LeaderId);
    }

    [Fact]
    public async Task During_a_transfer_proposals_are_refused_naming_the_target_and_a_transfer_that_cannot_finish_is_abandoned()
    {
        await using var cluster = new InMemoryNodeCluster(3);
        RaftDriver leader = cluster[await cluster.WaitForLeaderAsync()];
        var write = await cluster.SessionWriterAsync(leader);
        Assert.True((await write(leader, 1)).Succeeded);
        RaftDriver target = cluster.Running.First(d => d.NodeId != leader.NodeId);
        target.Isolated = true; // the target never catches up to the point of TimeoutNow, so the transfer stays in progress
        Assert.True((await write(leader, 2)).Succeeded); // the target is now behind

        Task<ClusterMembership> transfer = leader.TransferLeadershipAsync(target.NodeId, new CancellationTokenSource(Deadline).Token);
        await Eventually.TrueAsync(() => leader.Status.LeadershipTransferTarget == target.NodeId, "the transfer is in progress");
        var refused = await Assert.ThrowsAsync<UnavailableException>(() => write(leader, 3));
        Assert.Equal(target.NodeId, refused.LeaderHint);
        Assert.False(refused.MayHaveBeenApplied);
        Assert.Contains($"node {target.NodeId}", refused.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<UnavailableException>(() => leader.RemoveMemberAsync(target.NodeId, CancellationToken.None));

        var abandoned = await Assert.ThrowsAsync<UnavailableException>(() => transfer);
        Assert.Contains("did not take over", abandoned.Message, StringComparison.Ordinal);
        Assert.Equal(RaftRole.Leader, leader.Status.Role);
        Assert.True((await write(leader, 3)).Succeeded); // proposals are accepted again
    }

    [Fact]
    public async Task A_leader_that_removes_itself_commits_the_change_then_steps_down_and_the_removed_node_disturbs_nobody()
    {
        await using var cluster = new InMemoryNodeCluster(3);
        RaftDriver leader = cluster[await cluster.WaitForLeaderAsync()];
        var write = await cluster.SessionWriterAsync(leader);
        Assert.True((await write(leader, 1)).Succeeded);

        ClusterMembership removed = await leader.RemoveMemberAsync(leader.NodeId, new CancellationTokenSource(Deadline).Token);

        Assert.DoesNotContain(removed.Members, m => m.Id == leader.NodeId);
        ulong next = await cluster.WaitForLeaderAsync(id => id != leader.NodeId);
        await Eventually.TrueAsync(() => leader.Status.Role != RaftRole.Leader, "the removed leader steps down");
        RaftDriver newLeader = cluster[next];
        await Eventually.TrueAsync(() => newLeader.Status.Configuration.Voters.SequenceEqual(removed.Voters.Select(m => m.Id)) && !newLeader.Status.ConfigurationPending,
            "the new leader has the committed configuration");
        ulong[] terms = [.. cluster.Running.Where(d => d.NodeId != leader.NodeId).Select(d => d.Status.Term)];

        // The removed node keeps running (and ticking) while the others take 40 writes, several election timeouts' worth.
        var writeOnNew = await cluster.SessionWriterAsync(newLeader);
        for (int i = 0; i < 40; i++) Assert.True((await writeOnNew(newLeader, i)).Succeeded);
        await Eventually.TrueAsync(() => leader.Status.Term >= terms.Max() || leader.Status.Role == RaftRole.Follower, "the removed node has heard of the new term");

        Assert.Equal(terms, cluster.Running.Where(d => d.NodeId != leader.NodeId).Select(d => d.Status.Term));
        Assert.NotEqual(RaftRole.Leader, leader.Status.Role);
        Assert.NotEqual(RaftRole.Candidate, leader.Status.Role);
    }

    [Fact]
    public async Task A_proposal_and_a_read_waiting_on_a_leader_that_loses_leadership_fail_with_a_retryable_error_without_waiting_for_a_timeout()
    {
        // Reads would time out only after a minute and proposals never: anything that fails here failed fast.
        await using var cluster = new InMemoryNodeCluster(3, o => o with { ReadIndexTimeoutMs = 60_000 });
        RaftDriver leader = cluster[await cluster.WaitForLeaderAsync()];
        var write = await cluster.SessionWriterAsync(leader);
        Assert.True((await write(leader, 1)).Succeeded);

        leader.Isolated = true;
        Task<KvReply> stranded = write(leader, 2); // appended on the old leader only: it cannot commit
        Task readStranded = leader.ReadIndexAsync(CancellationToken.None);
        ulong next = await cluster.WaitForLeaderAsync(id => id != leader.NodeId);
        leader.Isolated = false; // the old leader steps down (CheckQuorum, or the new leader's term, whichever comes first)

        var lost = await Assert.ThrowsAsync<UnavailableException>(() => stranded.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(lost.MayHaveBeenApplied);
        Assert.Contains(lost.LeaderHint, new[] { 0UL, next });
        var readLost = await Assert.ThrowsAsync<UnavailableException>(() => readStranded.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(readLost.LeaderHint, new[] { 0UL, next });
        Assert.True((await write(cluster[next], 2)).Succeeded); // the retry with the same sequence number succeeds on the new leader
    }
}

/// <summary>The node meters are process-wide (one meter name): tests that count them must not overlap with other nodes running.</summary>
[CollectionDefinition(Name)]
public sealed class NodeMetersCollection
{
    public const string Name = "node meters";
}
