using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>Raft thesis 3.5: log replication, conflict repair and fast backtracking.</summary>
public sealed class Section3_5_LogReplicationTests
{
    private static LogEntry Entry(ulong index, ulong term) => LogEntry.Command(index, term, SimulatedStateMachine.EncodeCommand(index * 1000 + term));

    [Fact]
    public void A_follower_with_a_conflicting_suffix_is_repaired_and_backtracking_skips_whole_terms()
    {
        // Node 1 (the future leader) holds terms 1,1,1,4,4,4,4,4,4,4; node 2 holds a long divergent suffix of
        // terms 2 and 3 that never committed. One-entry-at-a-time backtracking would need ~12 round trips.
        var leaderLog = new[] { Entry(1, 1), Entry(2, 1), Entry(3, 1) }
            .Concat(Enumerable.Range(4, 7).Select(i => Entry((ulong)i, 4))).ToArray();
        var divergent = new[] { Entry(1, 1), Entry(2, 1), Entry(3, 1) }
            .Concat(Enumerable.Range(4, 6).Select(i => Entry((ulong)i, 2)))
            .Concat(Enumerable.Range(10, 6).Select(i => Entry((ulong)i, 3))).ToArray();
        var cluster = new ScenarioCluster(3, (_, o) => o with { MaxAppendBytes = 64 }, id => new PersistentState
        {
            HardState = new HardState(4, 0, 3),
            Entries = id == 2 ? divergent : leaderLog,
            Snapshot = null,
        });

        cluster.ElectLeader(1);
        cluster.RunUntil(() => cluster.Node(2).Log.LastIndex == cluster.Node(1).Log.LastIndex &&
                               cluster.Node(2).Status.CommitIndex == cluster.Node(1).Status.CommitIndex);

        Assert.Equal(
            cluster.Node(1).Log.Entries.Select(e => (e.Index, e.Term, ClusterChecker.Hash(e))),
            cluster.Node(2).Log.Entries.Select(e => (e.Index, e.Term, ClusterChecker.Hash(e))));
        int rejections = cluster.Transcript.Count(l => l.StartsWith("deliver AppendEntriesResponse 2->1") && l.Contains("reject"));
        Assert.InRange(rejections, 1, 3); // one per divergent term, not one per entry
        Assert.Empty(cluster.Checker.Violations);
    }

    [Fact]
    public void Proposals_are_batched_into_one_AppendEntries_per_follower()
    {
        var cluster = new ScenarioCluster(3);
        cluster.ElectLeader(1);
        for (ulong i = 1; i <= 50; i++) cluster.Node(1).Propose(SimulatedStateMachine.EncodeCommand(i));
        Ready ready = cluster.Node(1).GetReady();

        Message[] appends = ready.Messages.Where(m => m.Type == MessageType.AppendEntries).ToArray();
        Assert.Equal(2, appends.Length);
        Assert.All(appends, m => Assert.Equal(50, m.Entries.Count));
        Assert.Equal(50, ready.Entries.Count);
        // Thesis 10.2.1: the leader replicates before its own append is durable; it cannot commit yet.
        Assert.Equal(1UL, cluster.Node(1).Status.CommitIndex);
    }

    [Fact]
    public void Pipelining_keeps_several_AppendEntries_in_flight_up_to_the_window()
    {
        var cluster = new ScenarioCluster(3, (_, o) => o with { MaxAppendBytes = 64, MaxInflightMessages = 4 });
        cluster.ElectLeader(1);
        for (ulong i = 1; i <= 20; i++) cluster.Propose(1, i);

        int toNode2 = cluster.InFlight.Count(m => m.Type == MessageType.AppendEntries && m.To == 2);
        Assert.Equal(4, toNode2); // window full: more wait for acknowledgements
        cluster.RunUntil(() => cluster.LiveNodes.All(n => n.Status.AppliedIndex == 21));
    }

    [Fact]
    public void A_committed_entry_is_applied_on_every_node_in_the_same_order()
    {
        var cluster = new ScenarioCluster(5);
        cluster.ElectLeader(3);
        for (ulong i = 1; i <= 10; i++) cluster.Propose(3, i);
        cluster.RunUntil(() => cluster.LiveNodes.All(n => n.Status.AppliedIndex == 11));
        Assert.Single(cluster.LiveNodes.Select(n => cluster.StateMachine(n.Id).StateHash).Distinct());
    }
}
