using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>Raft thesis 3.10: leadership transfer.</summary>
public sealed class Section3_10_LeadershipTransferTests
{
    [Fact]
    public void The_leader_catches_the_target_up_before_TimeoutNow_and_the_target_wins_without_PreVote()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        ulong term = leader.Term;

        cluster.Isolate(3); // node 3 falls behind
        for (ulong command = 1; command <= 5; command++) cluster.Propose(1, command);
        cluster.Deliver();
        cluster.Heal();
        Assert.True(cluster.Node(3).Status.LastIndex < leader.Status.LastIndex);

        int start = cluster.Transcript.Count;
        ulong lastIndex = leader.Status.LastIndex;
        Assert.Equal(TransferLeadershipOutcome.Started, cluster.Do(1, n => n.TransferLeadership(3)).Outcome);
        Assert.Equal(3UL, leader.Status.LeadershipTransferTarget);
        Assert.DoesNotContain(cluster.InFlight, m => m.Type == MessageType.TimeoutNow); // not caught up yet

        cluster.RunUntil(() => cluster.Leader?.Id == 3, maxTicks: 20);

        string[] after = [.. cluster.Transcript.Skip(start)];
        int timeoutNow = Array.FindIndex(after, line => line.StartsWith("deliver TimeoutNow 1->3"));
        int caughtUp = Array.FindIndex(after, line => line.StartsWith("deliver AppendEntriesResponse 3->1") && line.EndsWith($"match={lastIndex}"));
        Assert.True(caughtUp >= 0 && timeoutNow > caughtUp, string.Join("\n", after));
        Assert.DoesNotContain(after, line => line.StartsWith("deliver PreVote 3->"));
        // Node 2 still heard from leader 1 (its CheckQuorum lease was live) and granted the vote anyway.
        Assert.Contains(after, line => line.StartsWith($"deliver RequestVote 3->2 t{term + 1}") && line.EndsWith("transfer"));
        Assert.Contains(after, line => line.StartsWith($"deliver RequestVoteResponse 2->3 t{term + 1} granted"));
        Assert.Equal(term + 1, cluster.Node(3).Term);
        Assert.Equal(RaftRole.Follower, cluster.Node(1).Role);
        Assert.Equal(0UL, cluster.Node(1).Status.LeadershipTransferTarget);
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void Proposals_are_refused_during_a_transfer_and_name_the_target()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        cluster.Isolate(2);
        leader.TransferLeadership(2);

        ProposeResult refused = cluster.Propose(1, 99);
        Assert.Equal(ProposeOutcome.TransferringLeadership, refused.Outcome);
        Assert.Equal(2UL, refused.LeaderHint);
        Assert.Equal(ProposeOutcome.TransferringLeadership, leader.AddLearner(4).Outcome); // configuration changes too
        Assert.Equal(TransferLeadershipOutcome.Refused, leader.TransferLeadership(3).Outcome); // one transfer at a time
        Assert.Equal(TransferLeadershipOutcome.Started, leader.TransferLeadership(2).Outcome); // asking again is harmless
    }

    [Fact]
    public void A_transfer_that_does_not_finish_within_an_election_timeout_is_abandoned()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        ulong term = leader.Term;
        cluster.Isolate(3); // the target never hears of it

        cluster.Do(1, n => n.TransferLeadership(3));
        for (int tick = 0; tick < 9; tick++)
        {
            cluster.Tick(1);
            cluster.Tick(2);
            cluster.Deliver();
        }
        Assert.Equal(ProposeOutcome.TransferringLeadership, cluster.Propose(1, 1).Outcome);
        cluster.Tick(1); // the tenth tick: one election timeout (ElectionTimeoutTicks = 10)
        Assert.Equal(0UL, leader.Status.LeadershipTransferTarget);
        Assert.Equal(ProposeOutcome.Accepted, cluster.Propose(1, 2).Outcome);
        Assert.Equal((RaftRole.Leader, term), (leader.Role, leader.Term));
    }

    [Fact]
    public void Transfer_is_refused_to_itself_to_a_learner_and_on_a_follower()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        cluster.AddNode(4);
        Assert.True(cluster.Propose(1, 1).IsAccepted);
        Assert.True(cluster.Do(1, n => n.AddLearner(4)).IsAccepted);
        cluster.Deliver();

        Assert.Equal(TransferLeadershipOutcome.Refused, leader.TransferLeadership(1).Outcome);
        Assert.Equal(TransferLeadershipOutcome.Refused, leader.TransferLeadership(4).Outcome);
        TransferLeadershipResult onFollower = cluster.Node(2).TransferLeadership(3);
        Assert.Equal((TransferLeadershipOutcome.NotLeader, 1UL), (onFollower.Outcome, onFollower.LeaderHint));
    }

    [Fact]
    public void The_old_leader_reports_its_lost_leadership_naming_the_target_and_fails_its_pending_reads()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        ulong term = leader.Term;
        cluster.Do(1, n => n.TransferLeadership(2));
        cluster.ReadIndex(1, 42); // registered, waiting for its heartbeat round
        cluster.Deliver(m => m.Type is MessageType.TimeoutNow or MessageType.RequestVote); // 1 steps down before the round completes

        Assert.Equal(RaftRole.Follower, leader.Role);
        (ulong node, LeadershipLoss loss) = Assert.Single(cluster.LeadershipLosses);
        Assert.Equal((1UL, term, 2UL), (node, loss.Term, loss.LeaderHint));
        Assert.Contains(cluster.ReadStates, r => r is { Node: 1, State: { RequestId: 42, Succeeded: false, LeaderHint: 2 } });
    }
}
