using System.Collections.Concurrent;
using RaftKv.Raft;

namespace RaftKv.Node.Tests;

/// <summary>
/// <see cref="IRaftKvNode.LeadershipChanged"/> (what the cluster page's journal records): every change of role, term or
/// leader, in order, and nothing while they stay the same.
/// </summary>
[Collection(NodeMetersCollection.Name)]
public sealed class LeadershipChangedTests
{
    [Fact]
    public async Task A_failover_is_reported_by_the_survivors_in_order_and_an_idle_leader_reports_nothing()
    {
        await using var cluster = new InMemoryNodeCluster(3);
        ulong leader = await cluster.WaitForLeaderAsync();
        await Eventually.TrueAsync(() => cluster.Running.All(d => d.Status.Leader == leader), "every node follows the leader");
        var reports = new ConcurrentDictionary<ulong, ConcurrentQueue<RaftStatus>>();
        foreach (RaftDriver driver in cluster.Running)
        {
            ConcurrentQueue<RaftStatus> queue = reports.GetOrAdd(driver.NodeId, _ => new ConcurrentQueue<RaftStatus>());
            driver.LeadershipChanged += queue.Enqueue;
        }
        ulong term = cluster[leader].Status.Term;

        // Heartbeats and their answers change nothing the event reports.
        await Task.Delay(300);
        Assert.All(reports.Values, queue => Assert.Empty(queue));

        await cluster.StopAsync(leader);
        ulong next = await cluster.WaitForLeaderAsync(id => id != leader);
        await Eventually.TrueAsync(() => cluster.Running.All(d => reports[d.NodeId].LastOrDefault() is { } last && last.Leader == next && last.Term > term),
            "every survivor reports the new leader");
        foreach (RaftDriver survivor in cluster.Running)
        {
            RaftStatus[] seen = [.. reports[survivor.NodeId]];
            // In order (terms never go back), each a real change from the one before, ending where the node is now.
            Assert.True(seen.Zip(seen.Skip(1)).All(p => p.Second.Term >= p.First.Term
                && (p.Second.Role, p.Second.Term, p.Second.Leader) != (p.First.Role, p.First.Term, p.First.Leader)));
            Assert.Equal((survivor.Status.Role, survivor.Status.Term, survivor.Status.Leader), (seen[^1].Role, seen[^1].Term, seen[^1].Leader));
            Assert.Equal(survivor.NodeId == next ? RaftRole.Leader : RaftRole.Follower, seen[^1].Role);
        }
    }
}
