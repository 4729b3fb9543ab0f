using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>
/// Raft thesis 3.6.2 and figure 3.7: a leader may not conclude that an entry from an earlier term is committed just
/// because a majority stores it; only entries of its own term are committed by counting replicas.
/// </summary>
public sealed class Section3_6_CommitRuleTests
{
    private static LogEntry Entry(ulong index, ulong term) => LogEntry.Command(index, term, SimulatedStateMachine.EncodeCommand(index * 1000 + term));

    /// <summary>
    /// Figure 3.7's servers after (a)-(b): S1 and S2 hold 2@2 from the leader of term 2; S5 holds 2@3 from the
    /// leader of term 3; S3 and S4 hold only 1@1. S1 is then elected for term 4 and copies 2@2 to S3.
    /// </summary>
    private static ScenarioCluster Figure3_7(bool injectBug)
    {
        var cluster = new ScenarioCluster(5,
            (_, o) => o with { MaxAppendBytes = 1, PreVote = false, CheckQuorum = false, InjectedBug = injectBug ? InjectedBug.CommitOldTermEntriesByCount : InjectedBug.None },
            id => new PersistentState
            {
                HardState = new HardState(3, 0, 1),
                Entries = id switch
                {
                    1 or 2 => [Entry(1, 1), Entry(2, 2)],
                    5 => [Entry(1, 1), Entry(2, 3)],
                    _ => [Entry(1, 1)],
                },
            });

        // (c) S1 wins term 4 with the votes of S2, S3 and S4; S5 is unreachable for now.
        cluster.Isolate(5);
        cluster.Tick(1, 20);
        cluster.Deliver(m => m.Type is MessageType.RequestVote or MessageType.RequestVoteResponse);
        Assert.Equal(RaftRole.Leader, cluster.Node(1).Role);
        Assert.Equal(4UL, cluster.Node(1).Term);

        // S1 replicates one entry per message. S2 gets everything; S3 gets 2@2 but not 3@4 before S1 crashes. So
        // 2@2 is stored on S1, S2 and S3, a majority, while 3@4 (the no-op of term 4) is on S1 and S2 only.
        cluster.Deliver(m =>
            (m.Type == MessageType.AppendEntries && (m.To == 2 || (m.To == 3 && cluster.Node(3).Log.LastIndex < 2))) ||
            m.Type == MessageType.AppendEntriesResponse);
        return cluster;
    }

    [Fact]
    public void An_old_term_entry_stored_on_a_majority_is_not_committed_by_counting()
    {
        ScenarioCluster cluster = Figure3_7(injectBug: false);
        Assert.Equal(2UL, cluster.Node(3).Log.LastIndex);
        Assert.Equal(1UL, cluster.Node(1).Status.CommitIndex);

        // (d) S1 crashes; S5 is elected for term 5 (its last term 3 beats 2) and overwrites 2@2 everywhere. That
        // is safe precisely because 2@2 was never committed.
        CrashS1AndElectS5(cluster);
        cluster.RunUntil(() => cluster.Node(3).Log.TermAt(2) == 3 && cluster.Node(2).Log.TermAt(2) == 3, maxTicks: 200);
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void The_checkers_catch_a_core_that_commits_old_term_entries_by_counting()
    {
        ScenarioCluster cluster = Figure3_7(injectBug: true);
        Assert.Equal(2UL, cluster.Node(1).Status.CommitIndex); // the bug: 2@2 counted as committed
        CrashS1AndElectS5(cluster); // S5 lacks 2@2, which S1 wrongly reported committed
        Assert.Contains(cluster.Checker.Violations, v => v.Contains("leader completeness"));
    }

    private static void CrashS1AndElectS5(ScenarioCluster cluster)
    {
        cluster.Crash(1);
        cluster.Heal();
        cluster.Drop(_ => true);
        // S5 first campaigns for term 4, where S3 and S4 already voted; it wins the next term.
        for (int tick = 0; tick < 100 && cluster.Node(5).Role != RaftRole.Leader; tick++)
        {
            cluster.Tick(5);
            cluster.Deliver(m => m.Type is MessageType.RequestVote or MessageType.RequestVoteResponse);
        }
        Assert.Equal(RaftRole.Leader, cluster.Node(5).Role);
    }
}
