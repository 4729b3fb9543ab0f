using System.Diagnostics;
using RaftKv.Raft;

namespace RaftKv.Node.Tests;

/// <summary>
/// A node whose monotonic clock goes back (libfaketime's clock fault moves CLOCK_MONOTONIC too) keeps ticking: its
/// driver moves its deadlines back with the clock (RaftDriver.Ticks.cs, ReadClock) instead of sleeping until the clock
/// catches up with a deadline left in the old timeline.
/// </summary>
[Collection(NodeMetersCollection.Name)]
public sealed class ClockJumpTests
{
    private static readonly TimeSpan Jump = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_follower_whose_clock_went_back_still_joins_the_election_after_its_leader_dies()
    {
        var clocks = new Dictionary<ulong, SteppedClock> { [1] = new(), [2] = new(), [3] = new() };
        await using var cluster = new InMemoryNodeCluster(3, time: id => clocks[id]);
        ulong leader = await SettledLeaderAsync(cluster);
        ulong jumped = cluster.Running.Select(d => d.NodeId).First(id => id != leader);

        clocks[jumped].Step(-Jump);

        // The third node needs the jumped one's (pre-)vote. Had the jumped node stopped ticking, it would go on
        // believing the dead leader alive, refusing pre-votes, for the whole jump (WaitForLeaderAsync gives up after
        // 20 s, a third of it).
        var failover = Stopwatch.StartNew();
        await cluster.StopAsync(leader);
        ulong next = await cluster.WaitForLeaderAsync(id => id != leader);
        Assert.NotEqual(leader, next);
        Assert.True(failover.Elapsed < Jump / 4, $"failover took {failover.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(cluster[jumped].ClockJumpsBack > 0);
    }

    [Fact]
    public async Task A_follower_whose_clock_jumped_ahead_and_back_still_joins_the_election_after_its_leader_dies()
    {
        var clocks = new Dictionary<ulong, SteppedClock> { [1] = new(), [2] = new(), [3] = new() };
        await using var cluster = new InMemoryNodeCluster(3, time: id => clocks[id]);
        ulong leader = await SettledLeaderAsync(cluster);
        ulong jumped = cluster.Running.Select(d => d.NodeId).First(id => id != leader);

        // libfaketime's clock fault: the offset is set, then cleared.
        clocks[jumped].Step(Jump);
        long ticks = cluster[jumped].TickInputs;
        await Eventually.TrueAsync(() => cluster[jumped].TickInputs > ticks + 3, "the follower ticks after the jump ahead");
        clocks[jumped].Step(-Jump);
        ticks = cluster[jumped].TickInputs;
        await Eventually.TrueAsync(() => cluster[jumped].TickInputs > ticks + 3, "the follower ticks after the jump back");

        var failover = Stopwatch.StartNew();
        await cluster.StopAsync(leader);
        ulong next = await cluster.WaitForLeaderAsync(id => id != leader);
        Assert.True(failover.Elapsed < Jump / 4, $"failover took {failover.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task A_leader_whose_clock_went_back_keeps_sending_heartbeats()
    {
        var clocks = new Dictionary<ulong, SteppedClock> { [1] = new(), [2] = new(), [3] = new() };
        await using var cluster = new InMemoryNodeCluster(3, time: id => clocks[id]);
        ulong leader = await SettledLeaderAsync(cluster);
        ulong term = cluster[leader].Status.Term;

        long ticksBefore = cluster[leader].TickInputs;
        clocks[leader].Step(-Jump);
        // An idle leader wakes only for its heartbeat ticks (30 ms apart): it keeps waking and ticking after the jump.
        await Eventually.TrueAsync(() => cluster[leader].TickInputs >= ticksBefore + 20, "the leader ticks 20 more times");
        Assert.True(cluster[leader].ClockJumpsBack > 0);
        // Its heartbeats kept the followers from campaigning: still the same leader, in the same term, on every node.
        Assert.All(cluster.Running, d => Assert.Equal((leader, term), (d.Status.Leader, d.Status.Term)));
    }

    [Fact]
    public void A_jump_ahead_between_a_timer_tick_and_a_message_of_the_same_step_is_not_counted_as_elapsed_ticks()
    {
        // One follower driven step by step on a fake clock (the simulator's mode): its timer fires at a tick that is not
        // its election deadline, and before the driver runs, the clock jumps a minute ahead and a heartbeat arrives.
        // The minute is a stall (a paused VM, a faked clock), not time the node saw pass: it must not campaign on it.
        string directory = Path.Combine(Path.GetTempPath(), "raftkv-node-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
            using var node = new SteppedNode(directory, time, new RaftDriverSeams { RandomSeed = 7 }, e => throw new InvalidOperationException("fatal", e));
            RaftDriver driver = node.Driver;
            Message Heartbeat() => new() { Type = MessageType.Heartbeat, From = 1, To = 2, Term = 1 };

            // Follow leader 1, whose heartbeats every 100 ms keep moving the election deadline on, until the timer fires
            // (for a tick it was armed for before the latest heartbeat: no deadline falls due at it). The tick is
            // queued; the driver has not run yet.
            for (int ms = 0; !driver.HasPendingInput; ms += 10)
            {
                Assert.True(ms < 5_000, "the timer never fired");
                if (ms % 100 == 0)
                {
                    driver.OnMessage(Heartbeat());
                    driver.RunOnce();
                    Assert.Equal(1UL, driver.Status.Leader);
                }
                time.Advance(TimeSpan.FromMilliseconds(10));
            }
            time.Advance(TimeSpan.FromMinutes(1)); // the one-shot timer is not re-armed until the driver runs
            driver.OnMessage(Heartbeat());
            node.Sent.Clear();

            driver.RunOnce();

            Assert.DoesNotContain(node.Sent, m => m.Type is MessageType.PreVote or MessageType.RequestVote);
            Assert.Equal((RaftRole.Follower, 1UL, 1UL), (driver.Status.Role, driver.Status.Term, driver.Status.Leader));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<ulong> SettledLeaderAsync(InMemoryNodeCluster cluster)
    {
        ulong leader = await cluster.WaitForLeaderAsync();
        await Eventually.TrueAsync(() =>
        {
            RaftStatus[] all = [.. cluster.Running.Select(d => d.Status)];
            leader = all[0].Leader;
            return leader != 0 && all.All(s => s.Leader == leader && s.Term == all[0].Term && s.AppliedIndex >= 1);
        }, "the cluster settles on one leader");
        return leader;
    }

    /// <summary>The system's clock and timers, with timestamps that can be stepped (back, as libfaketime's offset file does).</summary>
    private sealed class SteppedClock : TimeProvider
    {
        private long _offset;

        public void Step(TimeSpan by) => Interlocked.Add(ref _offset, (long)(by.TotalSeconds * Stopwatch.Frequency));

        public override long GetTimestamp() => Stopwatch.GetTimestamp() + Interlocked.Read(ref _offset);

        public override long TimestampFrequency => Stopwatch.Frequency;
    }
}
