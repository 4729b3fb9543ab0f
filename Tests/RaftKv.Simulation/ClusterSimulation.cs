using Microsoft.Extensions.Logging.Abstractions;
using RaftKv.Node;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.Snapshots;
using RaftKv.Storage.Wal;

namespace RaftKv.Simulation;

/// <summary>
/// A deterministic whole-cluster simulation of the production node runtime: every node is a <see cref="RaftDriver"/>,
/// the same code a silo runs, over the real <see cref="NodeStorage"/> (WAL and snapshot store) on a fault-injecting
/// simulated disk and the in-memory twin of the FASTER state machine, with the simulation's clock, network and
/// background work as its seams, stepped (<see cref="RaftDriver.RunOnce"/>) on this one thread in virtual time. Around
/// it: a seeded lossy network, crashes that lose unsynced writes, partitions, membership churn through the driver's
/// admin calls (learners added and promoted, followers and leaders removed and left running, leadership transferred),
/// and clients with sessions that write (put, CAS) and read (linearizable through ReadIndex on leaders and followers,
/// or stale where asked), retrying with the same sequence number after lost replies. A safety phase runs under
/// faults; then the cluster is healed and every client operation must complete and every member converge (liveness
/// phase). Checkers in <see cref="ClusterChecker"/> run after every step of every node, <see cref="ClientChecker"/>
/// on every apply and reply and, at the end, over the whole client history. The same seed always replays the same run.
/// </summary>
public sealed partial class ClusterSimulation
{
    /// <summary>A request pending on a node must complete within this many ticks of the node learning of a new leader or term.</summary>
    public const int FailFastTicks = 3;

    /// <summary>Admin calls (membership changes, transfers) give up after this long, as an operator's deadline would.</summary>
    private const int AdminDeadlineMs = 2_000;

    /// <summary>The meters every simulated driver reports to (one instance: meters are process-wide objects).</summary>
    private static readonly NodeMetrics SharedMetrics = new(0, () => null);

    private readonly SimulationOptions _options;
    private readonly DeterministicRandom _random;
    private readonly PriorityQueue<SimEvent, (long, long)> _events = new();
    private readonly SimulatedNode[] _nodes;
    private readonly ClusterChecker _checker = new();
    private readonly ClusterConfiguration _configuration;
    private readonly HashSet<(ulong From, ulong To)> _blockedLinks = [];
    private readonly StateMachineOptions _stateMachineOptions;
    private readonly List<(Task<ClusterMembership> Call, string What, ulong Leader, bool Transfer)> _adminCalls = [];
    private long _sequence;
    private int _simulationThread = Environment.CurrentManagedThreadId;
    private volatile bool _leftTheSimulationThread;
    private long _eventCount;
    private bool _faultsOn = true;
    private int _readsServed;
    private int _membershipChanges;
    private int _transfers;
    private int _failFastChecks;

    private ClientChecker ClientChecks { get; }

    public ClusterSimulation(SimulationOptions options)
    {
        _options = options;
        _random = new DeterministicRandom(options.Seed);
        _configuration = new ClusterConfiguration(Enumerable.Range(1, options.NodeCount).Select(i => (ulong)i));
        // Spare nodes start outside the configuration (they know it and are not in it) and wait to be added.
        _nodes = [.. Enumerable.Range(1, options.NodeCount + options.SpareNodeCount).Select(i => new SimulatedNode((ulong)i,
            new WalSimulatedStorage(_configuration, new DeterministicRandom(options.Seed ^ ((ulong)i << 40)), options.ShortWriteProbability,
                options.SegmentSizeBytes, faults: options.Storage == SimulatedStorageKind.WriteAheadLog)))];
        _clients = [.. Enumerable.Range(1, options.ClientCount).Select(i => new SimulatedClient(i))];
        _stateMachineOptions = new StateMachineOptions
        {
            SessionTimeoutMs = options.SessionTimeoutMs,
            TestFaultApplyRetriesTwice = options.Bug == SimulatedBug.ApplyRetriedCommandTwice,
        };
        ClientChecks = new ClientChecker(_checker);
    }

    public long NowMs { get; private set; }

    /// <summary>When set, receives a human-readable line for every message, crash, restart and role change.</summary>
    public Action<string>? Trace { get; set; }

    public ClusterChecker Checker => _checker;

    internal IReadOnlyList<SimulatedNode> Nodes => _nodes;

    /// <summary>Starts the client and every node (or only <paramref name="nodeIds"/>); <see cref="Run"/> does this itself.</summary>
    public void Start(params ulong[] nodeIds)
    {
        foreach (SimulatedNode node in _nodes.Where(n => nodeIds.Length == 0 || nodeIds.Contains(n.Id))) StartNode(node);
        Schedule(_options.ProposalIntervalMs, new ClientTick());
    }

    /// <summary>Starts (or restarts) one node from its storage.</summary>
    public void StartNode(ulong nodeId) => StartNode(_nodes[(int)nodeId - 1]);

    /// <summary>Runs after every simulated event; tests use it to watch quantities such as disk usage.</summary>
    public Action? AfterEachEvent { get; set; }

    public WalSimulatedStorage StorageOf(ulong nodeId) => _nodes[(int)nodeId - 1].Storage;

    public MemoryKvStateMachine? StateMachineOf(ulong nodeId) => _nodes[(int)nodeId - 1].StateMachine;

    public RaftStatus? StatusOf(ulong nodeId) => _nodes[(int)nodeId - 1].Raft?.Status;

    /// <summary>The node that is leader of the highest term among live nodes, if any.</summary>
    public ulong? CurrentLeader() => LeaderNode()?.Id;

    public void Crash(ulong nodeId) => _nodes[(int)nodeId - 1].Crash();

    /// <summary>
    /// A digest of the run so far: every node's role, term, commit and applied index, and the event count. Two runs of
    /// one seed must agree on it at every point (the replay test compares it after every event).
    /// </summary>
    public ulong TraceHash { get; private set; } = 14695981039346656037UL;

    public SimulationResult Run()
    {
        Start();
        if (_options.MeanPartitionIntervalMs > 0) Schedule(Exponential(_options.MeanPartitionIntervalMs), new PartitionChange());
        if (_options.MeanCrashIntervalMs > 0) Schedule(Exponential(_options.MeanCrashIntervalMs), new CrashSomeNode());
        if (_options.MeanMembershipChangeIntervalMs > 0) Schedule(Exponential(_options.MeanMembershipChangeIntervalMs), new MembershipChange());

        RunUntil(_options.SafetyPhaseMs, () => false);
        Heal();
        long deadline = NowMs + _options.LivenessDeadlineMs;
        bool live = RunUntil(deadline, Converged);
        if (!live && _checker.Violations.Count == 0)
        {
            _checker.Violation($"liveness: after healing, {_clients.Count(c => c.Current is not null)} of {_clients.Length} clients still wait " +
                               $"and the members did not converge within {_options.LivenessDeadlineMs}ms; " +
                               string.Join(", ", _nodes.Select(n => n.Describe())));
        }
        CheckFinalState();
        return new SimulationResult(_options.Seed, _options, [.. _checker.Violations], NowMs, _checker.Elections,
            _checker.MaxCommitted, ClientChecks.AcknowledgedWrites, _eventCount)
        {
            MembershipChanges = _membershipChanges,
            LeadershipTransfers = _transfers,
            ReadsServed = _readsServed,
            LinearizableReads = ClientChecks.LinearizableReads,
            StaleReads = ClientChecks.StaleReads,
            ClientRetries = ClientChecks.Retries,
            KeysGivenUp = ClientChecks.KeysGivenUp,
            SessionsExpired = ClientChecks.SessionsExpired,
            SnapshotTransfers = SnapshotTransfersCompleted,
            SnapshotChunksLost = SnapshotChunksLost,
            SnapshotTransfersResumed = SnapshotTransfersResumed,
            FailFastChecks = _failFastChecks,
            TraceHash = TraceHash,
        };
    }

    /// <summary>Runs events until <paramref name="untilMs"/> or until <paramref name="done"/> holds; true if it held.</summary>
    public bool RunUntil(long untilMs, Func<bool> done)
    {
        // Callers' continuations (the driver's admin calls are async methods) must run inline on this thread, where the
        // driver completes their tasks. .NET inlines an await continuation only where no SynchronizationContext is
        // installed; a test framework installs one, and the continuations would then go to the thread pool.
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            return RunEvents(untilMs, done);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    private bool RunEvents(long untilMs, Func<bool> done)
    {
        _simulationThread = Environment.CurrentManagedThreadId;
        while (_events.Count > 0 && _checker.Violations.Count == 0)
        {
            if (_leftTheSimulationThread) _checker.Violation("determinism: simulated work ran off the simulation's thread (a continuation on the thread pool?)");
            if (done()) return true;
            _events.TryPeek(out _, out (long Time, long) key);
            if (key.Time > untilMs) break;
            SimEvent next = _events.Dequeue();
            NowMs = key.Time;
            _checker.NowMs = NowMs;
            _eventCount++;
            Handle(next);
            StepNodes();
            HashState();
            AfterEachEvent?.Invoke();
        }
        NowMs = Math.Max(NowMs, untilMs);
        return done();
    }

    private void Handle(SimEvent simEvent)
    {
        switch (simEvent)
        {
            case Callback callback:
                callback.Action();
                break;
            case StepNode step:
                _nodes[step.Index].StepScheduled = false;
                break;
            case Departure departure when _nodes[departure.Index].IsCurrent(departure.Incarnation):
                Transmit(_nodes[departure.Index], departure.Message);
                break;
            case Delivery delivery:
                Deliver(delivery.Message);
                break;
            case ClientTick:
                ClientsStep();
                Schedule(_options.ProposalIntervalMs, simEvent);
                break;
            case ClientRequestArrives arrives:
                OnClientRequest(arrives.NodeIndex, arrives.Request);
                break;
            case ClientResponseArrives response:
                OnClientResponse(response.Request, response.Response);
                break;
            case ChunkArrives chunk:
                OnSnapshotChunk(chunk.Chunk);
                break;
            case ReceiptArrives receipt:
                OnSnapshotReceipt(receipt);
                break;
            case TransferDeadline deadline:
                OnTransferDeadline(deadline);
                break;
            case FailFastDeadline deadline when _nodes[deadline.Index].IsCurrent(deadline.Incarnation):
                CheckFailFastDeadline(deadline);
                break;
            case PartitionChange when _faultsOn:
                ChangePartition();
                Schedule(Exponential(_options.MeanPartitionIntervalMs), simEvent);
                break;
            case CrashSomeNode when _faultsOn:
                CrashRandomNode();
                Schedule(Exponential(_options.MeanCrashIntervalMs), simEvent);
                break;
            case MembershipChange when _faultsOn:
                ChangeMembership();
                Schedule(Exponential(_options.MeanMembershipChangeIntervalMs), simEvent);
                break;
            case RestartNode restart when !_nodes[restart.Index].IsUp:
                StartNode(_nodes[restart.Index]);
                break;
        }
    }

    private void HashState()
    {
        ulong hash = TraceHash ^ (ulong)_eventCount;
        foreach (SimulatedNode node in _nodes)
        {
            if (node.Raft is not { } raft) continue;
            hash = (hash ^ ((ulong)raft.Role << 56 ^ raft.Term << 32 ^ raft.Log.Committed)) * 1099511628211UL;
            hash = (hash ^ node.StateMachine!.AppliedIndex ^ raft.Leader << 48) * 1099511628211UL;
        }
        TraceHash = hash;
    }

    // ---- nodes: the production driver, stepped here ---------------------------------------------------------------

    private void StartNode(SimulatedNode node)
    {
        NodeStorage storage;
        try
        {
            storage = node.Storage.Load();
        }
        catch (Exception e) when (e is WalCorruptionException or SnapshotCorruptionException)
        {
            // The simulator only crashes, tears unsynced writes and fails writes: none of that may look like corruption.
            _checker.Violation($"node {node.Id} reports corruption after crash-only faults: {e.Message}");
            return;
        }
        catch (IOException e)
        {
            // Recovery writes too (truncating a torn tail); a short write there is fail-stop like any other.
            Trace?.Invoke($"{NowMs,6}ms node {node.Id} fail-stops on I/O error while recovering: {e.Message}");
            node.Crash();
            Schedule(_random.Next(1, _options.MaxDowntimeMs + 1), new RestartNode(node.Index));
            return;
        }
        node.BeginIncarnation();
        int incarnation = node.Incarnation;
        var clock = new SimulatedClock(() => NowMs, (dueMs, action) => Schedule(dueMs, new Callback(action)), _random.Next(0, _options.TickIntervalMs));
        var twin = new MemoryKvStateMachine(_stateMachineOptions);
        if (node.DurableCheckpoint is { } checkpoint) twin.Restore(checkpoint.Index, new MemoryStream(checkpoint.Image));
        var stateMachine = new SimulatedKvStateMachine(twin,
            makeDurable: (index, image, done) => Schedule(_random.Next(0, 5 * _options.MaxFsyncDelayMs + 2), new Callback(() =>
            {
                if (!node.IsCurrent(incarnation)) return; // the process died before the checkpoint was on disk
                if (index > (node.DurableCheckpoint?.Index ?? 0)) node.DurableCheckpoint = (index, image);
                done.TrySetResult(new CheckpointResult(true, index));
            })),
            restored: (index, image) => node.DurableCheckpoint = (index, image));
        var seams = new RaftDriverSeams
        {
            Background = new SimulatedBackground(this, node, incarnation),
            RandomSeed = _random.NextUInt64(),
            CompleteCallersInline = true,
            // Bugs of the core; the state machine's and the driver's test faults are set in their own options.
            ConfigureRaft = options => options with
            {
                InjectedBug = _options.Bug is SimulatedBug.ApplyRetriedCommandTwice or SimulatedBug.KeepRequestsOnLeadershipLoss ? InjectedBug.None : (InjectedBug)_options.Bug,
            },
            Observer = new NodeObserver(this, node),
        };
        RaftDriver driver;
        try
        {
            driver = new RaftDriver(DriverOptions(node.Id), storage, stateMachine, clock, SharedMetrics, NullLogger.Instance, _ => { }, seams);
        }
        catch (Exception e) when (e is RaftInvariantException or InvalidOperationException)
        {
            _checker.Violation($"node {node.Id} cannot restart: {e.Message}");
            return;
        }
        node.Started(driver, twin, clock);
        RaftNode raft = driver.Core;
        Trace?.Invoke($"{NowMs,6}ms start node {node.Id}: term {raft.Term} vote {raft.Vote} snapshot={raft.Log.SnapshotIndex} last={raft.Log.LastIndex} applied={twin.AppliedIndex}");
        _checker.OnRestart(node.Id, new HardState(raft.Term, raft.Vote, raft.Log.Committed));
        driver.Attach(new SimulatedTransport(this, node, incarnation));
        _checker.AfterEvent(node.Id, raft);
    }

    /// <summary>What a silo would be configured with, in the simulation's units (ticks of <see cref="SimulationOptions.TickIntervalMs"/>).</summary>
    private NodeOptions DriverOptions(ulong id) => new()
    {
        NodeId = id,
        DataDirectory = "/node",
        Members = [.. _nodes.Select(n => MemberOf(n.Id))],
        TickIntervalMs = _options.TickIntervalMs,
        ElectionTimeoutMs = _options.ElectionTimeoutTicks * _options.TickIntervalMs,
        HeartbeatIntervalMs = _options.HeartbeatIntervalTicks * _options.TickIntervalMs,
        SnapshotThresholdBytes = _options.SnapshotThresholdBytes == 0 ? long.MaxValue : _options.SnapshotThresholdBytes,
        MaxAppendBytes = _options.MaxAppendBytes,
        MaxInflightMessages = _options.MaxInflightMessages,
        MaxPromotionLagEntries = _options.MaxPromotionLagEntries,
        CheckpointEveryEntries = _options.CheckpointEveryEntries,
        ReadIndexTimeoutMs = 1_000,
        EnableTestFaults = _options.Bug == SimulatedBug.KeepRequestsOnLeadershipLoss,
        TestFaultKeepRequestsOnLeadershipLoss = _options.Bug == SimulatedBug.KeepRequestsOnLeadershipLoss,
    };

    private static NodeMember MemberOf(ulong id) =>
        new() { Id = id, PeerAddress = $"http://node{id}.sim:7200", ClientAddress = $"http://node{id}.sim:7100" };

    /// <summary>
    /// After every event: every live node with queued inputs takes a step, unless it is still busy with its last one
    /// (then a step is scheduled for when it is free, and its inputs keep queueing: the driver's group commit).
    /// </summary>
    private void StepNodes()
    {
        for (int round = 0; round < 64; round++)
        {
            bool stepped = false;
            foreach (SimulatedNode node in _nodes)
            {
                if (node.Driver is not { HasPendingInput: true }) continue;
                if (NowMs < node.BusyUntilMs)
                {
                    if (!node.StepScheduled)
                    {
                        node.StepScheduled = true;
                        Schedule(node.BusyUntilMs - NowMs, new StepNode(node.Index));
                    }
                    continue;
                }
                Step(node);
                stepped = true;
            }
            if (!stepped) break;
        }
        CollectAdminCalls();
    }

    /// <summary>
    /// One <see cref="RaftDriver.RunOnce"/>. Its fsyncs take simulated time: if it synced, the node is busy for one
    /// fsync delay, and whatever it sent after the first sync (acknowledgements, votes, client replies) leaves when
    /// the sync is done; leader messages sent before it leave at once (thesis 10.2.1).
    /// </summary>
    private void Step(SimulatedNode node)
    {
        RaftDriver driver = node.Driver!;
        Task[] awaitingLeadership = [.. driver.RequestsAwaitingLeadership];
        node.SyncsAtStepStart = node.Storage.FileSystem.FileSyncCount;
        node.FsyncDelayMs = _random.Next(0, _options.MaxFsyncDelayMs + 1);
        try
        {
            driver.RunOnce();
        }
        catch (RaftInvariantException e)
        {
            _checker.Violation($"node {node.Id} broke an invariant: {e.Message}");
            return;
        }
        catch (IOException e)
        {
            // I/O errors after open are fail-stop: the node crashes and recovers from what its disk holds.
            Trace?.Invoke($"{NowMs,6}ms node {node.Id} fail-stops on I/O error: {e.Message}");
            node.Crash();
            Schedule(_random.Next(1, _options.MaxDowntimeMs + 1), new RestartNode(node.Index));
            return;
        }
        catch (Exception e)
        {
            _checker.Violation($"node {node.Id}'s driver threw {e.GetType().Name}: {e.Message}");
            return;
        }
        if (node.Storage.FileSystem.FileSyncCount > node.SyncsAtStepStart) node.BusyUntilMs = NowMs + node.FsyncDelayMs;
        _checker.AfterEvent(node.Id, driver.Core);
        CheckFailFast(node, awaitingLeadership);
        CollectClientResponses(node);
        CollectChunkReceipts(node);
    }

    /// <summary>How long after now what the node sends in its current step leaves: after the step's fsync, if it synced already.</summary>
    private long DepartureDelay(SimulatedNode node) =>
        node.Storage.FileSystem.FileSyncCount > node.SyncsAtStepStart ? node.FsyncDelayMs : 0;

    /// <summary>When the node's replies leave: once its current step (and its fsync) is done.</summary>
    private long ReplyDelay(SimulatedNode node) => Math.Max(0, node.BusyUntilMs - NowMs);

    /// <summary>
    /// Item 5 of issue 8: no client request outlives a leadership change its node knows of by more than
    /// <see cref="FailFastTicks"/> ticks. Every proposal and every read not yet given a read index that was pending on
    /// the node when a step showed it a new leader or term must be answered (failed, or applied if it committed) within
    /// that time, not left to time out.
    /// </summary>
    private void CheckFailFast(SimulatedNode node, Task[] pendingBefore)
    {
        RaftNode raft = node.Raft!;
        (ulong Leader, ulong Term) now = (raft.Leader, raft.Term);
        if (now == node.LastLeadership) return;
        (ulong Leader, ulong Term) before = node.LastLeadership;
        node.LastLeadership = now;
        if (pendingBefore.Length == 0) return;
        _failFastChecks++;
        Schedule(FailFastTicks * _options.TickIntervalMs, new FailFastDeadline(node.Index, node.Incarnation, pendingBefore, NowMs, before, now));
    }

    private void CheckFailFastDeadline(FailFastDeadline deadline)
    {
        int stillPending = deadline.Requests.Count(task => !task.IsCompleted);
        if (stillPending == 0) return;
        _checker.Violation($"fail fast: {stillPending} request(s) pending on node {deadline.Index + 1} under leader {deadline.Before.Leader} of term " +
                           $"{deadline.Before.Term} are still pending {NowMs - deadline.ChangedAtMs}ms after it saw leader {deadline.After.Leader} of term {deadline.After.Term}");
    }

    /// <summary>Raft's messages out of a node's step: now, or after the step's fsync (see <see cref="Step"/>).</summary>
    private void Send(SimulatedNode from, int incarnation, Message message)
    {
        if (!from.IsCurrent(incarnation)) return;
        long delay = DepartureDelay(from);
        if (delay == 0) Transmit(from, message);
        else Schedule(delay, new Departure(from.Index, incarnation, message));
    }

    /// <summary>The network: InstallSnapshot goes to the mesh model (chunked transfer); everything else may be dropped, duplicated and delayed.</summary>
    private void Transmit(SimulatedNode from, Message message)
    {
        if (message.Type == MessageType.InstallSnapshot)
        {
            StartSnapshotTransfer(from, message);
            return;
        }
        int copies = _faultsOn && _random.Chance(_options.DuplicateRate) ? 2 : 1;
        for (int i = 0; i < copies; i++)
        {
            if (_faultsOn && _random.Chance(_options.DropRate)) continue;
            Schedule(_random.Next(_options.MinLatencyMs, _options.MaxLatencyMs + 1), new Delivery(message));
        }
    }

    private void Deliver(Message message)
    {
        SimulatedNode target = _nodes[(int)message.To - 1];
        if (!target.IsUp || _blockedLinks.Contains((message.From, message.To))) return;
        Trace?.Invoke($"{NowMs,6}ms deliver {message}");
        target.Driver!.OnMessage(message);
    }

    /// <summary>The simulated mesh under one node incarnation.</summary>
    private sealed class SimulatedTransport(ClusterSimulation simulation, SimulatedNode node, int incarnation) : IRaftTransport
    {
        public void Send(Message message) => simulation.Send(node, incarnation, message);
    }

    /// <summary>The driver's background work (writing a snapshot file) as a simulated event a little later; a crash cancels it.</summary>
    private sealed class SimulatedBackground(ClusterSimulation simulation, SimulatedNode node, int incarnation) : IBackgroundScheduler
    {
        public void Run(Action work) =>
            simulation.Schedule(simulation._random.Next(0, 5 * simulation._options.MaxFsyncDelayMs + 2), new Callback(() =>
            {
                if (node.IsCurrent(incarnation)) work();
            }));
    }

    /// <summary>The checkers' view into a driver's Ready handling.</summary>
    private sealed class NodeObserver(ClusterSimulation simulation, SimulatedNode node) : IRaftDriverObserver
    {
        public void OnReady(Ready ready)
        {
            if (simulation.Trace is { } trace)
            {
                if (ready.SoftState is { } soft) trace($"{simulation.NowMs,6}ms node {node.Id} is {soft.Role} of term {soft.Term} (leader {soft.Leader})");
                if (ready.Snapshot is { } installing) trace($"{simulation.NowMs,6}ms node {node.Id} installs {installing}");
                if (ready.LeadershipLoss is { } loss) trace($"{simulation.NowMs,6}ms node {node.Id} lost leadership: {loss}");
            }
            simulation.CheckLeadershipLossReported(node, ready);
        }

        public void OnPersisted(HardState? hardState, IReadOnlyList<LogEntry> entries)
        {
            if (hardState is { } durable) simulation._checker.OnDurableHardState(node.Id, durable);
            simulation._checker.OnEntriesPersisted(node.Id, entries);
        }

        public void OnApplied(in LogEntry entry, ReadOnlyMemory<byte> reply)
        {
            simulation._checker.OnApplied(node.Id, entry);
            simulation.ClientChecks.OnApplied(node.Id, entry, reply);
        }
    }

    // ---- faults ------------------------------------------------------------------------------------------------

    private void ChangePartition()
    {
        _blockedLinks.Clear();
        int kind = _random.Next(0, 4);
        var ids = _nodes.Select(n => n.Id).ToArray();
        switch (kind)
        {
            case 0: // heal
                break;
            case 1: // symmetric split into two groups
                var side = ids.ToDictionary(id => id, _ => _random.Chance(0.5));
                foreach (ulong a in ids) foreach (ulong b in ids) if (side[a] != side[b]) _blockedLinks.Add((a, b));
                break;
            case 2: // asymmetric: some directed links fail
                foreach (ulong a in ids) foreach (ulong b in ids) if (a != b && _random.Chance(0.3)) _blockedLinks.Add((a, b));
                break;
            case 3: // isolate the leader (or any node if there is none)
                ulong isolated = _nodes.FirstOrDefault(n => n.IsUp && n.Raft!.Role == RaftRole.Leader)?.Id ?? ids[_random.Next(0, ids.Length)];
                foreach (ulong other in ids) if (other != isolated) { _blockedLinks.Add((isolated, other)); _blockedLinks.Add((other, isolated)); }
                break;
        }
    }

    private void CrashRandomNode()
    {
        SimulatedNode[] up = [.. _nodes.Where(n => n.IsUp)];
        if (up.Length == 0) return;
        SimulatedNode victim = _random.Chance(0.5) && up.FirstOrDefault(n => n.Raft!.Role == RaftRole.Leader) is { } leader
            ? leader
            : up[_random.Next(0, up.Length)];
        Trace?.Invoke($"{NowMs,6}ms crash node {victim.Id}");
        victim.Crash();
        Schedule(_random.Next(1, _options.MaxDowntimeMs + 1), new RestartNode(victim.Index));
    }

    private void Heal()
    {
        _faultsOn = false;
        _blockedLinks.Clear();
        foreach (SimulatedNode node in _nodes) node.Storage.StopFaults();
        foreach (SimulatedNode node in _nodes.Where(n => !n.IsUp)) StartNode(node);
    }

    // ---- membership churn --------------------------------------------------------------------------------------

    private const int MinVoters = 2;
    private const int MaxVoters = 5;

    /// <summary>
    /// One membership change through the leader's driver, with the admin calls a silo's operator uses: add a learner
    /// (a spare, or a removed node that was left running), promote one, remove a follower or a learner, remove the
    /// leader itself, or transfer leadership. Sometimes a second change follows at once: the core must refuse it while
    /// the first is uncommitted (thesis 4.1; the driver retries it until then), which the checker verifies on every
    /// leader's log.
    /// </summary>
    private void ChangeMembership()
    {
        int changes = _random.Chance(0.3) ? 2 : 1;
        for (int i = 0; i < changes; i++)
        {
            if (LeaderNode() is not { } leader) return;
            OneMembershipChange(leader);
        }
    }

    private void OneMembershipChange(SimulatedNode leader)
    {
        RaftDriver driver = leader.Driver!;
        ClusterConfiguration configuration = leader.Raft!.Configuration;
        ulong[] outsiders = [.. _nodes.Select(n => n.Id).Where(id => !configuration.IsMember(id))];
        ulong[] otherVoters = [.. configuration.Voters.Where(v => v != leader.Id)];
        ulong[] removable = [.. (configuration.Voters.Count > MinVoters ? otherVoters : []).Concat(configuration.Learners)];
        CancellationToken deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(AdminDeadlineMs), leader.Clock!).Token;
        (Task<ClusterMembership> call, string what, bool transfer) = _random.Next(0, 5) switch
        {
            0 when outsiders.Length > 0 => Pick(outsiders) is var joining
                ? (driver.AddLearnerAsync(MemberOf(joining), deadline), $"add learner {joining}", false) : default,
            1 when configuration.Learners.Count > 0 && configuration.Voters.Count < MaxVoters => Pick([.. configuration.Learners]) is var promoted
                ? (driver.PromoteLearnerAsync(promoted, deadline), $"promote {promoted}", false) : default,
            2 when removable.Length > 0 => Pick(removable) is var removed
                ? (driver.RemoveMemberAsync(removed, deadline), $"remove {removed}", false) : default,
            3 when configuration.Voters.Count > MinVoters && configuration.IsVoter(leader.Id) =>
                (driver.RemoveMemberAsync(leader.Id, deadline), $"remove the leader {leader.Id}", false),
            4 when otherVoters.Length > 0 => Pick(otherVoters) is var target
                ? (driver.TransferLeadershipAsync(target, deadline), $"transfer leadership to {target}", true) : default,
            _ => default,
        };
        if (call is null) return;
        Trace?.Invoke($"{NowMs,6}ms node {leader.Id}: {what} in {configuration}");
        _adminCalls.Add((call, what, leader.Id, transfer));

        ulong Pick(ulong[] ids) => ids[_random.Next(0, ids.Length)];
    }

    /// <summary>Admin calls that completed: a change that committed, or a transfer the target won, counts.</summary>
    private void CollectAdminCalls()
    {
        for (int i = _adminCalls.Count - 1; i >= 0; i--)
        {
            (Task<ClusterMembership> call, string what, ulong leader, bool transfer) = _adminCalls[i];
            if (!call.IsCompleted) continue;
            _adminCalls.RemoveAt(i);
            if (call.IsCompletedSuccessfully)
            {
                if (transfer) _transfers++;
                else _membershipChanges++;
            }
            Trace?.Invoke($"{NowMs,6}ms node {leader}: {what}: " +
                          (call.IsCompletedSuccessfully ? "done" : call.IsCanceled ? "deadline passed" : call.Exception!.InnerException!.Message));
        }
    }

    /// <summary>
    /// Fail-fast for proposals: a node that led term T at its previous Ready and does not lead T now must say so in
    /// this Ready (<see cref="Ready.LeadershipLoss"/>), so that its driver fails the proposals it holds at once.
    /// </summary>
    private void CheckLeadershipLossReported(SimulatedNode node, Ready ready)
    {
        RaftNode raft = node.Raft!;
        ulong led = node.LeadingTermAtLastReady;
        bool stillLeading = raft.Role == RaftRole.Leader && raft.Term == led;
        if (led != 0 && !stillLeading && (ready.LeadershipLoss is not { } loss || loss.Term < led))
        {
            _checker.Violation($"fail fast: node {node.Id} stopped leading term {led} (now {raft.Role} of term {raft.Term}) without reporting LeadershipLoss");
        }
        node.LeadingTermAtLastReady = raft.Role == RaftRole.Leader ? raft.Term : 0;
    }

    /// <summary>The nodes of the current leader's configuration (every node while there is none): removed nodes left running do not count.</summary>
    private SimulatedNode[] Members()
    {
        SimulatedNode? leader = LeaderNode();
        return leader is null ? _nodes : [.. leader.Raft!.Configuration.AllMembers.Select(id => _nodes[(int)id - 1])];
    }

    private SimulatedNode? LeaderNode() =>
        _nodes.Where(n => n.IsUp && n.Raft!.Role == RaftRole.Leader).OrderByDescending(n => n.Raft!.Term).FirstOrDefault();

    /// <summary>Liveness: every client has its answer, and every member has applied everything the leader committed.</summary>
    private bool Converged() =>
        _clients.All(c => c.Current is null) && LeaderNode() is { } leader && !leader.Raft!.HasUncommittedConfiguration &&
        leader.Raft.Log.Committed == leader.Raft.Log.LastIndex &&
        leader.Raft.Configuration.AllMembers.All(id => _nodes[(int)id - 1] is { IsUp: true } member && member.StateMachine!.AppliedIndex == leader.Raft.Log.Committed);

    private void CheckFinalState()
    {
        var live = _nodes.Where(n => n.IsUp).Select(n => (n.Id, n.Raft!)).ToList();
        _checker.CheckLogMatching(live);
        if (_checker.Violations.Count > 0) return;
        SimulatedNode[] members = Members();
        if (members.Any(n => !n.IsUp))
        {
            _checker.Violation("liveness: members still down after healing: " + string.Join(", ", members.Where(n => !n.IsUp).Select(n => n.Id)));
            return;
        }
        // Let followers catch up with the final commit index, then every member must hold the same state.
        RunUntil(NowMs + 5_000, () => members.All(n => n.IsUp) && members.Select(n => n.StateMachine!.AppliedIndex).Distinct().Count() == 1);
        if (members.Any(n => !n.IsUp)) return;
        // The canonical snapshot bytes cover keys, revisions, sessions and the applied index.
        var states = members.Select(n => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(n.StateMachine!.SnapshotBytes()))).Distinct().ToArray();
        if (states.Length != 1)
        {
            _checker.Violation("final state differs across members: " + string.Join(", ", members.Select(n => $"{n.Id}:{n.StateMachine!.AppliedIndex}")));
            return;
        }
        CheckClientHistory(members[0]);
    }

    // ---- event queue -------------------------------------------------------------------------------------------

    private void Schedule(long delayMs, SimEvent simEvent)
    {
        // Everything runs on the simulation's one thread; anything else (a continuation the thread pool ran) would
        // make the run unrepeatable, and is reported as a violation at the next event.
        if (Environment.CurrentManagedThreadId != _simulationThread) _leftTheSimulationThread = true;
        _events.Enqueue(simEvent, (NowMs + delayMs, _sequence++));
    }

    private long Exponential(int meanMs) => 1 + (long)(-Math.Log(1 - _random.NextDouble()) * meanMs);

    private abstract record SimEvent;
    private sealed record Callback(Action Action) : SimEvent;
    private sealed record StepNode(int Index) : SimEvent;
    private sealed record Departure(int Index, int Incarnation, Message Message) : SimEvent;
    private sealed record Delivery(Message Message) : SimEvent;
    private sealed record ClientTick : SimEvent;
    private sealed record PartitionChange : SimEvent;
    private sealed record CrashSomeNode : SimEvent;
    private sealed record RestartNode(int Index) : SimEvent;
    private sealed record MembershipChange : SimEvent;
    private sealed record ClientRequestArrives(int NodeIndex, ClientRequest Request) : SimEvent;
    private sealed record ClientResponseArrives(ClientRequest Request, ClientResponse Response) : SimEvent;
    private sealed record FailFastDeadline(int Index, int Incarnation, Task[] Requests, long ChangedAtMs, (ulong Leader, ulong Term) Before, (ulong Leader, ulong Term) After) : SimEvent;
}
