using System.Text;
using RaftKv.Simulation;

namespace RaftKv.Raft.Tests;

/// <summary>
/// <see cref="RaftNode.TicksUntilNextTimer"/>: the promise that lets the node runtime idle without a periodic tick.
/// Every Tick before the predicted one must change nothing a driver can see, so a driver that sleeps until then and
/// catches the elapsed ticks up before its next input behaves exactly like one that ticks every interval.
/// </summary>
public sealed class TicklessTests
{
    [Fact]
    public void A_leader_is_due_at_its_next_heartbeat_and_sends_nothing_before()
    {
        var cluster = new ScenarioCluster(3, (_, o) => o with { HeartbeatIntervalTicks = 5 });
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();

        Assert.Equal(5, leader.TicksUntilNextTimer());
        cluster.Tick(1, 4);
        Assert.Empty(cluster.InFlight);
        Assert.Equal(1, leader.TicksUntilNextTimer());
        cluster.Tick(1);
        Assert.Equal(2, cluster.InFlight.Count(m => m.Type == MessageType.Heartbeat));
        Assert.Equal(5, leader.TicksUntilNextTimer());
    }

    [Fact]
    public void A_follower_is_due_when_its_randomized_election_timeout_runs_out_and_campaigns_exactly_then()
    {
        var cluster = new ScenarioCluster(3);
        RaftNode follower = cluster.Node(2);
        int due = follower.TicksUntilNextTimer();
        Assert.InRange(due, 10, 19);

        cluster.Tick(2, due - 1);
        Assert.Equal(RaftRole.Follower, follower.Role);
        Assert.Empty(cluster.InFlight);
        cluster.Tick(2);
        Assert.Equal(RaftRole.PreCandidate, follower.Role);
    }

    [Fact]
    public void A_learner_has_no_timer_until_a_forwarded_read_waits()
    {
        var cluster = new ScenarioCluster(3);
        cluster.ElectLeader(1);
        cluster.Deliver();
        RaftNode learner = cluster.AddNode(4);
        Assert.Equal(int.MaxValue, learner.TicksUntilNextTimer());

        cluster.Do(1, n => n.AddLearner(4));
        cluster.Deliver();
        cluster.TickAll();
        cluster.Deliver();
        Assert.Equal(1UL, learner.Leader);
        Assert.Equal(int.MaxValue, learner.TicksUntilNextTimer());

        // A forwarded read fails after two election timeouts without an answer; the learner must wake for that.
        cluster.Isolate(4);
        Assert.Equal(ReadIndexOutcome.Pending, cluster.ReadIndex(4, 77));
        cluster.Drop(_ => true);
        Assert.Equal(20, learner.TicksUntilNextTimer());
        cluster.Tick(4, 19);
        Assert.DoesNotContain(cluster.ReadStates, r => r.Node == 4);
        cluster.Tick(4);
        Assert.Contains(cluster.ReadStates, r => r.Node == 4 && r.State.RequestId == 77 && !r.State.Succeeded);
    }

    [Fact]
    public void A_transfer_that_does_not_complete_wakes_the_leader_when_it_is_abandoned()
    {
        var cluster = new ScenarioCluster(3, (_, o) => o with { HeartbeatIntervalTicks = 4, ElectionTimeoutTicks = 10 });
        RaftNode leader = cluster.ElectLeader(1);
        cluster.Deliver();
        // Heartbeats every 4 ticks (the next in 3), CheckQuorum in 9 ticks, the transfer abandoned in 10: all apart.
        cluster.Tick(1, 1);
        cluster.Deliver();
        cluster.Isolate(2); // the target never catches up, so the transfer is abandoned after an election timeout
        Assert.Equal(TransferLeadershipOutcome.Started, cluster.Do(1, n => n.TransferLeadership(2)).Outcome);

        int ticks = 0;
        while (leader.LeadershipTransferTarget != 0)
        {
            int due = leader.TicksUntilNextTimer();
            cluster.Drop(_ => true);
            cluster.Tick(1);
            ticks++;
            if (leader.LeadershipTransferTarget == 0) Assert.Equal(1, due);
            else if (due > 1) Assert.Empty(cluster.InFlight);
            if (ticks > 10) break;
        }
        Assert.Equal(0UL, leader.LeadershipTransferTarget);
        Assert.Equal(10, ticks);
        Assert.Equal(RaftRole.Leader, leader.Role);
    }

    [Fact]
    public void A_node_whose_own_removal_is_not_committed_is_due_when_it_may_campaign()
    {
        // Raft thesis 4.2.2 (see RaftNode.MayCampaign): leader 1 of voters {1, 2} removes itself, node 2 never gets the
        // entry, and node 1 steps down. Node 1 is no longer a voter in its latest configuration but must still
        // campaign to finish the change, so its election timer is a deadline a tickless driver must wake for.
        var cluster = new ScenarioCluster(2);
        RaftNode node = cluster.ElectLeader(1);
        cluster.Deliver();
        Assert.True(cluster.Do(1, n => n.RemoveMember(1)).IsAccepted);
        cluster.Drop(m => m.To == 2);
        cluster.Isolate(2);
        cluster.RunUntil(() => node.Role != RaftRole.Leader, maxTicks: 200);
        Assert.True(node.MayCampaign);
        Assert.False(node.Configuration.IsVoter(1));
        cluster.Drop(_ => true);

        int due = node.TicksUntilNextTimer();
        Assert.InRange(due, 1, 19);
        cluster.Tick(1, due - 1);
        Assert.Equal(RaftRole.Follower, node.Role);
        Assert.Empty(cluster.InFlight);
        cluster.Tick(1);
        Assert.Equal(RaftRole.PreCandidate, node.Role);
    }

    /// <summary>
    /// The property itself, over randomized runs: each node has an eager twin, ticked every tick as the driver used
    /// to, and a lazy twin ticked only when an input arrives or its predicted timer is due (catching up every elapsed
    /// tick first), as the driver does now. Both get the same inputs. Whenever the lazy twin is not due, the eager
    /// one must have produced nothing; whenever either produces a Ready, both must produce the same one.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Lazy_ticking_at_the_predicted_deadlines_is_indistinguishable_from_ticking_every_interval(int seed)
    {
        var run = new TwinCluster(seed);
        run.Run(ticks: 6_000);
        Assert.True(run.Elections > 0);
        Assert.True(run.Committed > 20, $"only {run.Committed} entries committed");
        Assert.True(run.LazyTicksSkipped > run.EagerTicks / 3, $"lazy twins skipped only {run.LazyTicksSkipped} of {run.EagerTicks} ticks");
    }

    private sealed class TwinCluster
    {
        private readonly Random _random;
        private readonly ClusterConfiguration _configuration = new([1, 2, 3]);
        private readonly Dictionary<ulong, Twin> _twins = [];
        private readonly List<(long At, Message Message)> _network = [];
        private readonly HashSet<ulong> _isolated = [];
        private long _now;
        private ulong _nextRead = 1;

        public TwinCluster(int seed)
        {
            _random = new Random(seed);
            foreach (ulong id in new ulong[] { 1, 2, 3, 4 }) // 4 starts outside the configuration; it may become a learner
            {
                var options = new RaftOptions
                {
                    NodeId = id, ElectionTimeoutTicks = 10 + _random.Next(20), HeartbeatIntervalTicks = 1 + _random.Next(5),
                    RandomSeed = (ulong)(seed * 100 + (int)id), MaxInflightMessages = 4,
                };
                _twins[id] = new Twin(new RaftNode(options, PersistentState.ForNewCluster(_configuration)),
                    new RaftNode(options, PersistentState.ForNewCluster(_configuration)));
            }
        }

        public int Elections { get; private set; }
        public ulong Committed => _twins.Values.Max(t => t.Eager.Status.CommitIndex);
        public long EagerTicks { get; private set; }
        public long LazyTicksSkipped { get; private set; }

        public void Run(int ticks)
        {
            for (; _now < ticks; _now++)
            {
                foreach ((ulong id, Twin twin) in _twins)
                {
                    twin.Eager.Tick();
                    EagerTicks++;
                    if (twin.LazyTicks + twin.Lazy.TicksUntilNextTimer() <= _now + 1)
                    {
                        CatchUp(twin, _now + 1);
                    }
                    else
                    {
                        LazyTicksSkipped++;
                        Assert.False(twin.Eager.HasReady(), $"node {id} at tick {_now + 1}: a tick before the predicted timer produced output");
                        AssertSameState(id, twin);
                    }
                    Process(id, twin);
                }
                Deliver();
                Act();
            }
        }

        private void Act()
        {
            int dice = _random.Next(1000);
            ulong leader = _twins.Where(t => t.Value.Eager.Role == RaftRole.Leader).Select(t => t.Key).FirstOrDefault();
            ulong anyone = (ulong)_random.Next(1, 5);
            if (dice < 60 && leader != 0)
            {
                Input(leader, n => n.Propose(Encoding.UTF8.GetBytes($"c{_now}")));
            }
            else if (dice < 90)
            {
                ulong read = _nextRead++;
                Input(anyone, n => n.ReadIndex(read));
            }
            else if (dice < 93 && leader != 0)
            {
                // Often to a voter cut off from the leader, so that the transfer is abandoned after an election timeout.
                ulong target = (ulong)_random.Next(1, 5);
                if (_random.Next(2) == 0 && target != leader) _isolated.Add(target);
                Input(leader, n => n.TransferLeadership(target));
            }
            else if (dice < 95 && leader != 0)
            {
                Input(leader, n => n.AddLearner(4));
            }
            else if (dice < 97 && leader != 0)
            {
                // Compact the leader's log, so that a follower cut off for a while needs a snapshot (whose transfer this
                // network drops, so the leader's progress sits in the Snapshot state until it gives up and probes).
                Input(leader, n =>
                {
                    ulong applied = n.Status.AppliedIndex;
                    if (applied > n.Status.SnapshotIndex) n.CompactLog(n.DescribeSnapshot(applied));
                    return 0;
                });
            }
            else if (dice < 100 && leader != 0)
            {
                ulong member = (ulong)_random.Next(1, 5);
                Input(leader, n => { n.ReportSnapshotFailure(member); return 0; });
            }
            else if (dice < 106)
            {
                if (_isolated.Count > 0) _isolated.Clear(); else _isolated.Add((ulong)_random.Next(1, 5));
            }
        }

        /// <summary>An input for both twins of a node; the lazy one first catches up to now.</summary>
        private void Input<T>(ulong id, Func<RaftNode, T> action)
        {
            Twin twin = _twins[id];
            CatchUp(twin, _now + 1);
            T eager = action(twin.Eager);
            T lazy = action(twin.Lazy);
            Assert.Equal(eager, lazy);
            Process(id, twin);
        }

        private void Deliver()
        {
            var due = _network.Where(m => m.At <= _now).ToList();
            _network.RemoveAll(m => m.At <= _now);
            foreach ((_, Message message) in due)
            {
                if (message.Type == MessageType.InstallSnapshot) continue; // snapshot transfers always fail here
                if (_random.Next(100) < 5) continue;
                Input(message.To, n => { n.Step(message); return 0; });
            }
        }

        private void CatchUp(Twin twin, long to)
        {
            for (; twin.LazyTicks < to; twin.LazyTicks++) twin.Lazy.Tick();
        }

        private void Process(ulong id, Twin twin)
        {
            Assert.Equal(twin.Eager.HasReady(), twin.Lazy.HasReady());
            while (twin.Eager.HasReady())
            {
                Ready eager = twin.Eager.GetReady();
                Ready lazy = twin.Lazy.GetReady();
                Assert.Equal(Describe(eager), Describe(lazy));
                if (eager.SoftState is { Role: RaftRole.Leader }) Elections++;
                foreach (Message message in eager.Messages.Concat(eager.MessagesAfterPersist))
                {
                    if (_isolated.Contains(message.From) || _isolated.Contains(message.To)) continue;
                    _network.Add((_now + _random.Next(0, 4), message));
                }
                twin.Eager.Advance(eager);
                twin.Lazy.Advance(lazy);
                Assert.Equal(twin.Eager.HasReady(), twin.Lazy.HasReady());
            }
            if (twin.LazyTicks == _now + 1) AssertSameState(id, twin);
        }

        private static void AssertSameState(ulong id, Twin twin)
        {
            Assert.Equal(twin.Eager.Status, twin.Lazy.Status);
            Assert.Equal(twin.Eager.LeadershipTransferTarget, twin.Lazy.LeadershipTransferTarget);
            Assert.True(twin.Eager.Status == twin.Lazy.Status, $"node {id}: twins diverged");
        }

        private static string Describe(Ready ready)
        {
            var text = new StringBuilder();
            text.Append($"soft={ready.SoftState} hard={ready.HardState} snapshot={ready.Snapshot} loss={ready.LeadershipLoss}\n");
            foreach (LogEntry entry in ready.Entries) text.Append($"entry {entry.Index}@{entry.Term} {entry.Type} {Convert.ToHexString(entry.Data.Span)}\n");
            foreach (Message message in ready.Messages) text.Append($"send {message} entries={string.Join(",", message.Entries.Select(e => $"{e.Index}@{e.Term}"))}\n");
            foreach (Message message in ready.MessagesAfterPersist) text.Append($"send-after-persist {message}\n");
            foreach (LogEntry entry in ready.CommittedEntries) text.Append($"apply {entry.Index}@{entry.Term}\n");
            foreach (ReadState read in ready.ReadStates) text.Append($"read {read}\n");
            return text.ToString();
        }

        private sealed class Twin(RaftNode eager, RaftNode lazy)
        {
            public RaftNode Eager { get; } = eager;
            public RaftNode Lazy { get; } = lazy;
            public long LazyTicks { get; set; }
        }
    }
}
