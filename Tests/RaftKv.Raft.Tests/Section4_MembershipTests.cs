using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>Raft thesis chapter 4 (configuration changes) and the durability of a leader's own term.</summary>
public sealed class Section4_MembershipTests
{
    [Fact]
    public void A_new_leader_changes_the_configuration_only_after_committing_an_entry_of_its_term()
    {
        var cluster = new ScenarioCluster(3);
        cluster.Tick(1, 20);
        cluster.Deliver(m => m.Type is MessageType.PreVote or MessageType.PreVoteResponse or MessageType.RequestVote or MessageType.RequestVoteResponse);
        Assert.Equal(RaftRole.Leader, cluster.Node(1).Role);

        ProposeResult early = cluster.Node(1).ProposeConfiguration(new ClusterConfiguration([1, 2, 3], [4]));
        Assert.Equal(ProposeOutcome.Dropped, early.Outcome); // its no-op is not committed yet

        cluster.Deliver();
        ProposeResult later = cluster.Node(1).ProposeConfiguration(new ClusterConfiguration([1, 2, 3], [4]));
        Assert.Equal(ProposeOutcome.Accepted, later.Outcome);
    }

    [Fact]
    public void A_node_votes_for_an_up_to_date_candidate_its_own_configuration_does_not_list_as_voter()
    {
        // Thesis 4.1: node 4 was promoted in a configuration node 3 has not received yet.
        var configuration = new ClusterConfiguration([1, 2, 3], [4]);
        var node = new RaftNode(new RaftOptions { NodeId = 3 }, PersistentState.ForNewCluster(configuration));
        node.Step(new Message { Type = MessageType.RequestVote, From = 4, To = 3, Term = 5, LogIndex = 10, LogTerm = 4 });
        Ready ready = node.GetReady();
        Message response = Assert.Single(ready.MessagesAfterPersist);
        Assert.Equal(MessageType.RequestVoteResponse, response.Type);
        Assert.False(response.Reject);
        Assert.Equal(4UL, ready.HardState!.Value.Vote); // and the vote is in the hard state persisted before it leaves
    }

    [Fact]
    public void A_leader_removed_from_the_configuration_steps_down_once_the_removal_commits()
    {
        var cluster = new ScenarioCluster(3);
        cluster.ElectLeader(1);
        Assert.Equal(ProposeOutcome.Accepted, cluster.Node(1).ProposeConfiguration(new ClusterConfiguration([2, 3])).Outcome);
        cluster.RunUntil(() => cluster.Node(1).Role != RaftRole.Leader, maxTicks: 50);
        cluster.RunUntil(() => cluster.Leader is { Id: 2 or 3 }, maxTicks: 200);
        Assert.Equal(new ClusterConfiguration([2, 3]), cluster.Leader!.Configuration);
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void A_single_voter_leader_sends_nothing_until_its_new_term_is_durable()
    {
        // Thesis 3.8: a leader elected within one step (the only voter) has not persisted its term yet; if it sent
        // AppendEntries now and crashed, it could lead the same term again with a different log.
        var configuration = new ClusterConfiguration([1], [2]);
        var node = new RaftNode(new RaftOptions { NodeId = 1 }, PersistentState.ForNewCluster(configuration));
        for (int i = 0; i < 20 && node.Role != RaftRole.Leader; i++) node.Tick();
        Assert.Equal(RaftRole.Leader, node.Role);

        Ready first = node.GetReady();
        Assert.Equal(node.Term, first.HardState!.Value.Term);
        Assert.DoesNotContain(first.Messages, m => m.Type == MessageType.AppendEntries);
        Assert.Contains(first.MessagesAfterPersist, m => m.Type == MessageType.AppendEntries && m.To == 2);
        node.Advance(first);
        ulong acked = first.MessagesAfterPersist.First(m => m.Type == MessageType.AppendEntries).Entries[^1].Index;
        node.Step(new Message { Type = MessageType.AppendEntriesResponse, From = 2, To = 1, Term = node.Term, LogIndex = acked });

        node.Propose(SimulatedStateMachine.EncodeCommand(1));
        Ready second = node.GetReady();
        Assert.Contains(second.Messages, m => m.Type == MessageType.AppendEntries && m.To == 2); // now it may replicate in parallel
    }
}
