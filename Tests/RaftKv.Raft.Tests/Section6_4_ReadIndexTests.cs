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

    [Fact]
    public void A_read_forwarded_by_a_follower_fails_in_the_first_Ready_after_its_leader_changes()
    {
        // Issue 8: a forwarded read whose leader crashed used to wait for the driver's timeout; the core now fails
        // it as soon as this follower learns of another leadership, naming the new leader.
        RaftNode follower = Follower(out Action<Message> step);
        Assert.Equal(ReadIndexOutcome.Pending, follower.ReadIndex(7));
        Ready forwarded = follower.GetReady();
        Assert.Contains(forwarded.MessagesAfterPersist.Concat(forwarded.Messages), m => m is { Type: MessageType.ReadIndex, To: 1, ReadRequestId: 7 });
        follower.Advance(forwarded);

        step(new Message { Type = MessageType.Heartbeat, From = 3, To = 2, Term = 2 }); // node 3 leads term 2 now
        Ready ready = follower.GetReady();
        Assert.Equal(new ReadState(7, 0, Succeeded: false, LeaderHint: 3), Assert.Single(ready.ReadStates));
        follower.Advance(ready);

        step(new Message { Type = MessageType.ReadIndexResponse, From = 1, To = 2, Term = 2, ReadRequestId = 7, LogIndex = 1 });
        Assert.False(follower.HasReady()); // a late answer to a failed read is dropped, never served
    }

    [Fact]
    public void A_forwarded_read_whose_answer_is_lost_fails_after_two_election_timeouts()
    {
        RaftNode follower = Follower(out Action<Message> step);
        follower.ReadIndex(7);
        follower.Advance(follower.GetReady());
        for (int tick = 1; tick <= 20; tick++)
        {
            step(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1 });
            follower.Tick();
            Ready ready = follower.GetReady();
            if (tick < 20) Assert.Empty(ready.ReadStates);
            else Assert.Equal(new ReadState(7, 0, Succeeded: false, LeaderHint: 1), Assert.Single(ready.ReadStates));
            follower.Advance(ready);
        }
    }

    /// <summary>Node 2 of {1, 2, 3}, following leader 1 in term 1; <paramref name="step"/> steps a message in.</summary>
    private static RaftNode Follower(out Action<Message> step)
    {
        var node = new RaftNode(new RaftOptions { NodeId = 2, ElectionTimeoutTicks = 10 }, PersistentState.ForNewCluster(new ClusterConfiguration([1, 2, 3])));
        step = node.Step;
        step(new Message { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1 });
        node.Advance(node.GetReady());
        return node;
    }
}
