using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>Raft thesis 3.4: leader election.</summary>
public sealed class Section3_4_LeaderElectionTests
{
    [Fact]
    public void A_follower_whose_timer_fires_wins_with_a_majority_of_votes()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);

        Assert.Equal(1UL, leader.Term);
        Assert.All(cluster.LiveNodes, n => Assert.Equal(1UL, n.Leader));
        Assert.Contains(cluster.Transcript, line => line.StartsWith("deliver RequestVoteResponse 2->1 t1 granted"));
    }

    [Fact]
    public void A_node_votes_at_most_once_per_term()
    {
        var cluster = new ScenarioCluster(3, (_, o) => o with { PreVote = false, CheckQuorum = false });
        cluster.Tick(1, 20);
        cluster.Tick(2, 20); // both campaign in term 1; hold their requests
        Assert.Equal(RaftRole.Candidate, cluster.Node(1).Role);
        Assert.Equal(RaftRole.Candidate, cluster.Node(2).Role);

        cluster.Deliver(m => m.Type == MessageType.RequestVote && m.To == 3);
        cluster.Deliver();

        // Node 3 granted exactly one of the two requests of term 1, so exactly one candidate leads term 1.
        Assert.Single(cluster.LiveNodes, n => n.Role == RaftRole.Leader && n.Term == 1);
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void Split_votes_resolve_in_a_later_term_through_randomized_timeouts()
    {
        var cluster = new ScenarioCluster(4, (_, o) => o with { PreVote = false, CheckQuorum = false });
        // Nodes 1 and 2 campaign in term 1 at the same moment; 3 votes for 1 and 4 votes for 2: two votes each,
        // three needed.
        cluster.Tick(1, 20);
        cluster.Tick(2, 20);
        cluster.Deliver(m => m.Type == MessageType.RequestVote && ((m.From == 1 && m.To == 3) || (m.From == 2 && m.To == 4)));
        cluster.Deliver(m => m.Type == MessageType.RequestVoteResponse);
        cluster.Deliver();
        Assert.DoesNotContain(cluster.LiveNodes, n => n.Role == RaftRole.Leader);

        cluster.RunUntil(() => cluster.Leader is not null);
        Assert.True(cluster.Leader!.Term >= 2, "the split term 1 cannot have produced the leader");
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void A_candidate_with_a_stale_log_is_refused_votes()
    {
        // Thesis 3.6.1: node 3 misses entries, so nodes 1 and 2 will not vote for it.
        var cluster = new ScenarioCluster(3, (_, o) => o with { PreVote = false, CheckQuorum = false });
        cluster.ElectLeader(1);
        cluster.Isolate(3);
        cluster.Propose(1, 100);
        cluster.Deliver();
        cluster.Heal();
        cluster.Crash(1);

        cluster.Tick(3, 20);
        cluster.Deliver(m => m.Type is MessageType.RequestVote or MessageType.RequestVoteResponse);

        Assert.NotEqual(RaftRole.Leader, cluster.Node(3).Role);
        Assert.Contains(cluster.Transcript, line => line.StartsWith("deliver RequestVoteResponse 2->3") && line.EndsWith("rejected"));
    }
}
