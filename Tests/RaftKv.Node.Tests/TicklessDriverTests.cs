using System.Diagnostics;
using RaftKv.Raft;

namespace RaftKv.Node.Tests;

/// <summary>
/// The driver idles without a periodic tick (RaftDriver.Ticks.cs): its thread wakes for a tick when the core's next
/// timer is due, not every <see cref="NodeOptions.TickIntervalMs"/>, and elections, heartbeats and CheckQuorum keep
/// their timing.
/// </summary>
[Collection(NodeMetersCollection.Name)]
public sealed class TicklessDriverTests
{
    [Fact]
    public async Task An_idle_cluster_wakes_its_drivers_far_less_than_every_tick_and_still_fails_over_within_the_election_timeout()
    {
        // 10 ms ticks, 30 ms heartbeats, 200 ms election timeout (InMemoryNodeCluster's defaults).
        await using var cluster = new InMemoryNodeCluster(3);
        await cluster.WaitForLeaderAsync();
        // Every node follows the same leader and has applied its first entry.
        ulong leader = 0;
        await Eventually.TrueAsync(() =>
        {
            RaftStatus[] all = [.. cluster.Running.Select(d => d.Status)];
            leader = all[0].Leader;
            return leader != 0 && all.All(s => s.Leader == leader && s.Term == all[0].Term && s.AppliedIndex >= 1);
        }, "the cluster settles on one leader");

        var before = cluster.Running.ToDictionary(d => d.NodeId, d => d.TickInputs);
        var window = Stopwatch.StartNew();
        await Task.Delay(2_000);
        double seconds = window.Elapsed.TotalSeconds;
        var perSecond = cluster.Running.ToDictionary(d => d.NodeId, d => (d.TickInputs - before[d.NodeId]) / seconds);
        Assert.All(cluster.Running, d => Assert.Equal(leader, d.Status.Leader)); // no election while idle

        // A periodic tick fires 100 times a second. The leader wakes for its heartbeats (33/s); a follower's timer is
        // armed for its election deadline (200-400 ms away) and, when it fires, armed again for the next one.
        Assert.InRange(perSecond[leader], 15, 50);
        Assert.All(perSecond.Keys.Where(id => id != leader), id => Assert.InRange(perSecond[id], 0, 12));

        // Kill the leader: a follower's timer still fires at its election deadline, and a new leader follows.
        var failover = Stopwatch.StartNew();
        await cluster.StopAsync(leader);
        ulong next = await cluster.WaitForLeaderAsync(id => id != leader);
        Assert.NotEqual(leader, next);
        Assert.True(failover.Elapsed < TimeSpan.FromSeconds(2), $"failover took {failover.Elapsed.TotalMilliseconds:F0} ms");
    }
}
