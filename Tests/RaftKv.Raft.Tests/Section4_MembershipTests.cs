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

    [Fact]
    public void Section4_2_1_a_new_server_joins_as_a_learner_and_is_promoted_only_once_caught_up()
    {
        var cluster = new ScenarioCluster(3, (_, options) => options with { MaxPromotionLagEntries = 2 });
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        for (ulong command = 1; command <= 10; command++) cluster.Propose(1, command);
        cluster.Deliver();

        cluster.AddNode(4);
        Assert.True(cluster.Do(1, n => n.AddLearner(4)).IsAccepted);
        Assert.Equal(new ClusterConfiguration([1, 2, 3], [4]), leader.Configuration); // in force once appended (4.1)
        cluster.Deliver(m => m.To != 4); // commits on the voters alone: a learner never counts (4.2.1)
        Assert.False(leader.Status.ConfigurationPending);

        ProposeResult early = cluster.Do(1, n => n.PromoteLearner(4));
        Assert.Equal(ProposeOutcome.Dropped, early.Outcome);
        Assert.Contains("MaxPromotionLagEntries", early.Reason);
        Assert.Equal(RaftRole.Follower, cluster.Node(4).Role);

        cluster.RunUntil(() => cluster.Node(4).Status.LastIndex == leader.Status.LastIndex, maxTicks: 20);
        Assert.True(cluster.Do(1, n => n.PromoteLearner(4)).IsAccepted);
        cluster.RunUntil(() => cluster.LiveNodes.All(n => n.Status.CommitIndex == leader.Status.LastIndex), maxTicks: 20);
        Assert.All(cluster.LiveNodes, n => Assert.Equal(new ClusterConfiguration([1, 2, 3, 4]), n.Configuration));
        Assert.Equal(3, leader.Configuration.QuorumSize);
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void Section4_1_a_second_change_is_refused_while_the_first_is_uncommitted()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        Assert.True(cluster.Do(1, n => n.RemoveMember(3)).IsAccepted);
        Assert.True(leader.Status.ConfigurationPending);

        ProposeResult second = cluster.Do(1, n => n.AddLearner(5));
        Assert.Equal(ProposeOutcome.Dropped, second.Outcome);
        Assert.Contains("not committed", second.Reason);
        Assert.Equal(ProposeOutcome.Dropped, leader.ProposeConfiguration(new ClusterConfiguration([1, 2, 4, 5])).Outcome);

        cluster.Deliver();
        Assert.False(leader.Status.ConfigurationPending);
        Assert.True(cluster.Do(1, n => n.AddLearner(5)).IsAccepted);
        Assert.Equal(ProposeOutcome.Dropped, cluster.Do(1, n => n.RemoveMember(9)).Outcome); // not a member
    }

    [Fact]
    public void Section4_2_2_a_leader_removing_itself_leads_until_the_removal_commits_then_steps_down_for_good()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        ProposeResult removal = cluster.Do(1, n => n.RemoveMember(1));
        Assert.True(removal.IsAccepted);
        Assert.Equal(RaftRole.Leader, leader.Role); // still replicating the change, without counting itself

        cluster.Deliver();
        Assert.Equal(RaftRole.Follower, leader.Role);
        Assert.True(leader.Status.CommitIndex >= removal.Index);
        Assert.Equal(removal.Index, Assert.Single(cluster.LeadershipLosses).Loss.Commit);

        cluster.RunUntil(() => cluster.Leader is { Id: 2 or 3 }, maxTicks: 200);
        ulong term = cluster.Leader!.Term;
        int start = cluster.Transcript.Count;
        for (int i = 0; i < 100; i++)
        {
            cluster.TickAll();
            cluster.Deliver();
        }
        Assert.Equal(RaftRole.Follower, cluster.Node(1).Role); // a removed server never campaigns
        Assert.DoesNotContain(cluster.Transcript.Skip(start), line => line.Contains("Vote 1->"));
        Assert.Equal(term, cluster.Leader!.Term);
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void Section4_2_2_a_leader_that_removed_itself_from_two_voters_and_lost_leadership_before_the_other_got_the_entry_can_still_finish_the_change()
    {
        // Found by the simulator running the production driver (seeds 4587, 13383, 14025 on WAL storage): leader 1 of
        // voters {1, 2} proposes C_new = {2}; the entry never reaches node 2 and node 1 steps down (CheckQuorum). Node
        // 1's latest configuration excludes it, so it used to never campaign; node 2's configuration {1, 2} needs
        // node 1's vote, which node 1 refuses because node 2's log is behind. Nobody could ever lead again. A node
        // whose removal is not committed may campaign (its votes are counted in its latest configuration, so node 2's
        // vote alone elects it); as leader it commits C_new, then steps down, and node 2 leads alone.
        var cluster = new ScenarioCluster(2);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        Assert.True(cluster.Do(1, n => n.RemoveMember(1)).IsAccepted);
        cluster.Drop(m => m.To == 2); // node 2 never sees the removal
        cluster.Isolate(2);
        cluster.RunUntil(() => leader.Role != RaftRole.Leader, maxTicks: 200); // CheckQuorum: node 2 is silent
        Assert.True(leader.Status.ConfigurationPending);
        Assert.False(leader.Configuration.IsVoter(1));
        Assert.True(cluster.Node(2).Configuration.IsVoter(1));

        cluster.Heal();
        cluster.RunUntil(() => cluster.Leader is { Id: 2 } && cluster.Node(2).Configuration.Voters.SequenceEqual([2ul]) &&
                               !cluster.Node(2).Status.ConfigurationPending, maxTicks: 1000);
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void Section4_2_3_a_removed_server_that_never_learned_of_its_removal_does_not_disrupt_the_cluster()
    {
        // Node 3 misses its removal and, without PreVote, would campaign with ever higher terms. The CheckQuorum
        // lease makes the members ignore its vote requests while they hear from their leader.
        var cluster = new ScenarioCluster(3, (id, options) => id == 3 ? options with { PreVote = false } : options);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        cluster.Isolate(3);
        Assert.True(cluster.Do(1, n => n.RemoveMember(3)).IsAccepted);
        cluster.Deliver();
        Assert.Equal(new ClusterConfiguration([1, 2]), cluster.Node(2).Configuration);
        Assert.True(cluster.Node(3).Configuration.IsVoter(3));
        ulong term = leader.Term;

        cluster.Heal();
        for (int i = 0; i < 200; i++)
        {
            cluster.TickAll();
            cluster.Deliver();
        }
        Assert.True(cluster.Node(3).Term > term + 5); // it kept campaigning...
        Assert.Equal((RaftRole.Leader, term), (leader.Role, leader.Term)); // ...and changed nothing
        Assert.Equal(term, cluster.Node(2).Term);
        Assert.Contains(cluster.Transcript, line => line.StartsWith("deliver RequestVote 3->2"));
        Assert.DoesNotContain(cluster.Transcript, line => line.StartsWith("deliver RequestVoteResponse 2->3"));
    }
}
