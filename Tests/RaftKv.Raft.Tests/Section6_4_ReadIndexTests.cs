using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>Raft thesis 6.4: linearizable reads without log entries.</summary>
public sealed class Section6_4_ReadIndexTests
{
    [Fact]
    public void Reads_are_released_after_one_heartbeat_round_that_many_reads_share_and_add_no_entries()
    {
        var cluster = new ScenarioCluster(3);
        cluster.ElectLeader(1);
        cluster.Propose(1, 7);
        cluster.Deliver();
        ulong lastIndex = cluster.Node(1).Log.LastIndex;

        for (ulong id = 1; id <= 10; id++) cluster.Node(1).ReadIndex(id);
        cluster.Propose(1, 8); // processes the Ready that starts the round
        Assert.Empty(cluster.ReadStates);
        int heartbeats = cluster.InFlight.Count(m => m.Type == MessageType.Heartbeat && m.ReadRound == 1);
        Assert.Equal(2, heartbeats); // one round for all ten reads

        cluster.Deliver(m => m.Type is MessageType.Heartbeat or MessageType.HeartbeatResponse);
        Assert.Equal(10, cluster.ReadStates.Count);
        Assert.All(cluster.ReadStates, r => Assert.True(r.State.Succeeded));
        Assert.All(cluster.ReadStates, r => Assert.Equal(lastIndex, r.State.Index));
        Assert.Equal(lastIndex + 1, cluster.Node(1).Log.LastIndex); // only the proposal, no read entries
    }

    [Fact]
    public void An_isolated_leader_never_releases_a_read_and_fails_it_when_it_steps_down()
    {
        var cluster = new ScenarioCluster(3);
        cluster.ElectLeader(1);
        cluster.Isolate(1);
        cluster.ReadIndex(1, requestId: 42);

        // The other two elect a new leader and commit a write the old leader never sees.
        cluster.RunUntil(() => cluster.Node(2).Role == RaftRole.Leader || cluster.Node(3).Role == RaftRole.Leader);
        ulong newLeader = cluster.Node(2).Role == RaftRole.Leader ? 2UL : 3UL;
        cluster.Propose(newLeader, 99);
        cluster.Deliver();

        Assert.DoesNotContain(cluster.ReadStates, r => r.State.Succeeded);
        cluster.Tick(1, 25); // CheckQuorum: the old leader steps down
        Assert.Contains(cluster.ReadStates, r => r is { Node: 1, State: { RequestId: 42, Succeeded: false } });
    }

    [Fact]
    public void A_follower_gets_a_read_index_from_the_leader()
    {
        var cluster = new ScenarioCluster(3);
        cluster.ElectLeader(1);
        cluster.Propose(1, 5);
        cluster.Deliver();
        Assert.Equal(ReadIndexOutcome.Pending, cluster.ReadIndex(2, requestId: 9));
        cluster.Deliver();
        Assert.Contains(cluster.ReadStates, r => r is { Node: 2, State: { RequestId: 9, Succeeded: true } } && r.State.Index == cluster.Node(1).Status.CommitIndex);
    }

    [Fact]
    public void A_new_leader_serves_reads_only_after_committing_an_entry_of_its_term()
    {
        var cluster = new ScenarioCluster(3);
        cluster.Tick(1, 20);
        cluster.Deliver(m => m.Type is MessageType.PreVote or MessageType.PreVoteResponse or MessageType.RequestVote or MessageType.RequestVoteResponse);
        Assert.Equal(RaftRole.Leader, cluster.Node(1).Role);
        cluster.ReadIndex(1, requestId: 1);
        cluster.Deliver(m => m.Type is MessageType.Heartbeat or MessageType.HeartbeatResponse);
        Assert.Empty(cluster.ReadStates); // the no-op is not committed yet
        cluster.Deliver();
        cluster.TickAll();
        cluster.Deliver();
        Assert.Contains(cluster.ReadStates, r => r.State is { RequestId: 1, Succeeded: true });
    }
}
