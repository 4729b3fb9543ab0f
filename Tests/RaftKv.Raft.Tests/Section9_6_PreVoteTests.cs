using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>Raft thesis 9.6 (PreVote) and 6.2 (CheckQuorum).</summary>
public sealed class Section9_6_PreVoteTests
{
    [Fact]
    public void A_partitioned_node_does_not_raise_its_term_and_cannot_disrupt_the_leader_when_it_returns()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        ulong term = leader.Term;

        cluster.Isolate(3);
        for (int i = 0; i < 200; i++)
        {
            cluster.TickAll();
            cluster.Deliver();
        }
        Assert.Equal(term, cluster.Node(3).Term); // many PreVote rounds, no term inflation
        Assert.Equal(RaftRole.PreCandidate, cluster.Node(3).Role);

        cluster.Heal();
        cluster.Tick(3, 30); // it keeps asking
        for (int i = 0; i < 50; i++)
        {
            cluster.TickAll();
            cluster.Deliver();
        }
        Assert.Equal(RaftRole.Leader, cluster.Node(1).Role);
        Assert.Equal(term, cluster.Node(1).Term);
        Assert.Equal(1UL, cluster.Node(3).Leader);
    }

    [Fact]
    public void Without_PreVote_the_returning_node_would_force_a_new_term()
    {
        // The control experiment that shows the previous test measures something.
        var cluster = new ScenarioCluster(3, (_, o) => o with { PreVote = false, CheckQuorum = false });
        RaftNode leader = cluster.ElectLeader(1);
        ulong term = leader.Term;
        cluster.Isolate(3);
        cluster.Tick(3, 100);
        Assert.True(cluster.Node(3).Term > term + 2);
        cluster.Heal();
        cluster.RunUntil(() => cluster.Leader is { } l && l.Term > term);
    }

    [Fact]
    public void CheckQuorum_makes_an_isolated_leader_step_down_after_an_election_timeout()
    {
        var cluster = new ScenarioCluster(3);
        cluster.ElectLeader(1);
        cluster.Isolate(1);
        for (int i = 0; i < 9; i++)
        {
            cluster.Tick(1);
            cluster.Deliver();
        }
        Assert.Equal(RaftRole.Leader, cluster.Node(1).Role);
        cluster.Tick(1, 12);
        Assert.Equal(RaftRole.Follower, cluster.Node(1).Role);
        Assert.Equal(0UL, cluster.Node(1).Leader);
    }
}
