using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage.Snapshots;
using RaftKv.Storage.Wal;

namespace RaftKv.Simulation;

/// <summary>
/// A deterministic whole-cluster simulation: virtual time, a seeded lossy network, crashes that lose unsynced
/// writes, partitions, membership churn (learners added and promoted, followers and leaders removed and left
/// running, leadership transferred), and clients with sessions that write (put, CAS) and read (linearizable through
/// ReadIndex on leaders and followers, or stale where asked) over the real KV state machine semantics, retrying
/// with the same sequence number after lost replies. A safety phase runs under faults; then the cluster is healed
/// and every client operation must complete and every member converge (liveness phase). Checkers in
/// <see cref="ClusterChecker"/> run after every event, <see cref="ClientChecker"/> on every apply and reply and,
/// at the end, over the whole client history. The same seed always replays the same run.
/// </summary>
public sealed partial class ClusterSimulation
{
    private readonly SimulationOptions _options;
    private readonly DeterministicRandom _random;
    private readonly PriorityQueue<SimEvent, (long, long)> _events = new();
    private readonly SimulatedNode[] _nodes;
    private readonly ClusterChecker _checker = new();
    private readonly ClusterConfiguration _configuration;
    private readonly HashSet<(ulong From, ulong To)> _blockedLinks = [];
    private readonly Func<ulong, ISimulatedStorage> _storageFactory;
    private readonly StateMachineOptions _stateMachineOptions;
    private long _sequence;
    private long _eventCount;
    private bool _faultsOn = true;

    // Linearizable reads in flight: request id -> where and under which leadership it was asked, and the highest
    // commit index any node had reached then (the read must return at least that: linearizability).
    private readonly SortedDictionary<ulong, ClientRead> _reads = [];
    private ulong _nextReadId = 1;
    private int _readsServed;
    private int _membershipChanges;
    private int _transfers;

    private readonly record struct ClientRead(int NodeIndex, int Incarnation, ulong Leader, ulong Term, ulong CommittedBefore);

    private ClientChecker ClientChecks { get; }

    public ClusterSimulation(SimulationOptions options, Func<ulong, ClusterConfiguration, DeterministicRandom, ISimulatedStorage>? storageFactory = null)
    {
        _options = options;
        _random = new DeterministicRandom(options.Seed);
        _configuration = new ClusterConfiguration(Enumerable.Range(1, options.NodeCount).Select(i => (ulong)i));
        storageFactory ??= options.Storage == SimulatedStorageKind.WriteAheadLog
            ? (_, configuration, random) => new WalSimulatedStorage(configuration, random, options.ShortWriteProbability, options.SegmentSizeBytes)
            : (_, configuration, _) => new MemorySimulatedStorage(configuration);
        _storageFactory = id => storageFactory(id, _configuration, new DeterministicRandom(options.Seed ^ (id << 40)));
        // Spare nodes start outside the configuration (they know it and are not in it) and wait to be added.
        _nodes = [.. Enumerable.Range(1, options.NodeCount + options.SpareNodeCount).Select(i => new SimulatedNode((ulong)i, _storageFactory((ulong)i)))];
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

    public ISimulatedStorage StorageOf(ulong nodeId) => _nodes[(int)nodeId - 1].Storage;

    public MemoryKvStateMachine? StateMachineOf(ulong nodeId) => _nodes[(int)nodeId - 1].StateMachine;

    public RaftStatus? StatusOf(ulong nodeId) => _nodes[(int)nodeId - 1].Raft?.Status;

    /// <summary>The node that is leader of the highest term among live nodes, if any.</summary>
    public ulong? CurrentLeader() =>
        _nodes.Where(n => n.IsUp && n.Raft!.Role == RaftRole.Leader).OrderByDescending(n => n.Raft!.Term).FirstOrDefault()?.Id;

    public void Crash(ulong nodeId) => _nodes[(int)nodeId - 1].Crash();

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
        };
    }

    /// <summary>Runs events until <paramref name="untilMs"/> or until <paramref name="done"/> holds; true if it held.</summary>
    public bool RunUntil(long untilMs, Func<bool> done)
    {
        while (_events.Count > 0 && _checker.Violations.Count == 0)
        {
            if (done()) return true;
            _events.TryPeek(out _, out (long Time, long) key);
            if (key.Time > untilMs) break;
            SimEvent next = _events.Dequeue();
            NowMs = key.Time;
            _checker.NowMs = NowMs;
            _eventCount++;
            Handle(next);
            AfterEachEvent?.Invoke();
        }
        NowMs = Math.Max(NowMs, untilMs);
        return done();
    }

    private void Handle(SimEvent simEvent)
    {
        switch (simEvent)
        {
            case NodeTick tick when _nodes[tick.Index].IsCurrent(tick.Incarnation):
                Guard(_nodes[tick.Index], node => node.Raft!.Tick());
                Schedule(_options.TickIntervalMs, tick);
                break;
            case Delivery delivery:
                Deliver(delivery);
                break;
            case PersistDone done when _nodes[done.Index].IsCurrent(done.Incarnation):
                Guard(_nodes[done.Index], node => Complete(node, done.Ready));
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
                OnSnapshotChunk(chunk);
                break;
            case ReceiptArrives receipt:
                OnSnapshotReceipt(receipt);
                break;
            case TransferDeadline deadline:
                OnTransferDeadline(deadline);
                break;
            case CheckpointDurable checkpoint when _nodes[checkpoint.Index].IsCurrent(checkpoint.Incarnation):
                SimulatedNode checkpointed = _nodes[checkpoint.Index];
                if (checkpoint.AppliedIndex > (checkpointed.DurableCheckpoint?.Index ?? 0)) checkpointed.DurableCheckpoint = (checkpoint.AppliedIndex, checkpoint.Image);
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

    // ---- nodes and the Ready loop ------------------------------------------------------------------------------

    /// <summary>Starts (restarts) a node from its storage; a storage I/O error leaves it down and retries later.</summary>
    internal void StartNode(SimulatedNode node)
    {
        PersistentState state;
        byte[]? snapshotData;
        try
        {
            (state, snapshotData) = node.Storage.Load();
        }
        catch (IOException e)
        {
            Trace?.Invoke($"{NowMs,6}ms node {node.Id} failed to start: {e.Message}");
            node.Storage.Crash();
            Schedule(_random.Next(1, 100), new RestartNode(node.Index));
            return;
        }
        catch (Exception e) when (e is WalCorruptionException or SnapshotCorruptionException)
        {
            // The simulator only crashes, tears unsynced writes and fails writes: none of that may look like corruption.
            _checker.Violation($"node {node.Id} reports corruption after crash-only faults: {e.Message}");
            return;
        }
        try
        {
            node.Start(state, snapshotData, NodeOptions(node.Id), _stateMachineOptions);
        }
        catch (RaftInvariantException e)
        {
            _checker.Violation($"node {node.Id} cannot restart: {e.Message}");
            return;
        }
        Trace?.Invoke($"{NowMs,6}ms start node {node.Id}: {state.HardState} snapshot={state.Snapshot} entries={state.Entries.Count}");
        _checker.OnRestart(node.Id, state.HardState);
        int phase = _random.Next(1, _options.TickIntervalMs + 1);
        Schedule(phase, new NodeTick(node.Index, node.Incarnation));
        Guard(node, _ => { });
    }

    private RaftOptions NodeOptions(ulong id) => new()
    {
        NodeId = id,
        ElectionTimeoutTicks = _options.ElectionTimeoutTicks,
        HeartbeatIntervalTicks = _options.HeartbeatIntervalTicks,
        RandomSeed = _random.NextUInt64(),
        MaxAppendBytes = _options.MaxAppendBytes,
        MaxInflightMessages = _options.MaxInflightMessages,
        MaxPromotionLagEntries = _options.MaxPromotionLagEntries,
        // Bugs of the core; the state machine's test fault is set in its own options.
        InjectedBug = _options.Bug == SimulatedBug.ApplyRetriedCommandTwice ? InjectedBug.None : (InjectedBug)_options.Bug,
    };

    /// <summary>Runs <paramref name="action"/> on a live node, then its Ready loop and the checkers.</summary>
    private void Guard(SimulatedNode node, Action<SimulatedNode> action)
    {
        try
        {
            action(node);
            Drive(node);
        }
        catch (RaftInvariantException e)
        {
            _checker.Violation($"node {node.Id} broke an invariant: {e.Message}");
        }
        catch (IOException e)
        {
            // I/O errors after open are fail-stop: the node crashes and recovers from what its disk holds.
            Trace?.Invoke($"{NowMs,6}ms node {node.Id} fail-stops on I/O error: {e.Message}");
            node.Crash();
            Schedule(_random.Next(1, _options.MaxDowntimeMs + 1), new RestartNode(node.Index));
        }
    }

    /// <summary>The driver half of the Ready contract, with fsync taking simulated time.</summary>
    private void Drive(SimulatedNode node)
    {
        RaftNode raft = node.Raft!;
        _checker.AfterEvent(node.Id, raft);
        if (node.Outstanding is not null || !raft.HasReady()) return;

        Ready ready = raft.GetReady();
        node.Outstanding = ready;
        if (ready.SoftState is { } soft) Trace?.Invoke($"{NowMs,6}ms node {node.Id} is {soft.Role} of term {soft.Term} (leader {soft.Leader})");
        if (ready.Snapshot is { } installing) Trace?.Invoke($"{NowMs,6}ms node {node.Id} installs {installing}");
        if (ready.LeadershipLoss is { } loss) Trace?.Invoke($"{NowMs,6}ms node {node.Id} lost leadership: {loss}");
        // As the silo's driver does: a node that no longer leads fails every proposal it holds at once (retryable,
        // naming the new leader when known); the entries may still commit under the next leader.
        if (ready.SoftState is { Role: not RaftRole.Leader } lost) FailProposals(node, lost.Leader);
        CompleteReads(node, ready);
        CheckLeadershipLossReported(node, ready);
        foreach (Message message in ready.Messages) SendMessage(node, message);
        byte[]? snapshotData = ready.Snapshot is { } snapshot ? node.TakeStagedSnapshot(snapshot.Index) : null;
        bool published = ready.Snapshot is not null && node.Storage.Snapshots?.Latest == ready.Snapshot;
        if (ready.Snapshot is not null && snapshotData is null && !published)
        {
            _checker.Violation($"node {node.Id} installs snapshot {ready.Snapshot} that was never received");
            return;
        }
        node.Storage.Write(ready, snapshotData);
        bool mustPersist = ready.HardState is not null || ready.Entries.Count > 0 || ready.Snapshot is not null;
        if (mustPersist)
        {
            Schedule(_random.Next(0, _options.MaxFsyncDelayMs + 1), new PersistDone(node.Index, node.Incarnation, ready));
        }
        else
        {
            Complete(node, ready);
        }
    }

    private void Complete(SimulatedNode node, Ready ready)
    {
        RaftNode raft = node.Raft!;
        node.Storage.Sync();
        if (ready.HardState is { } hardState) _checker.OnDurableHardState(node.Id, hardState);
        _checker.OnEntriesPersisted(node.Id, ready.Entries);
        if (ready.Snapshot is { } snapshot)
        {
            byte[] image = node.Storage.LatestSnapshot!.Value.Data;
            node.StateMachine!.Restore(snapshot.Index, new MemoryStream(image));
            // FASTER's Restore checkpoints the new store before switching to it: the installed state is durable at once.
            node.DurableCheckpoint = (snapshot.Index, image);
            node.AppliedSinceCheckpoint = 0;
        }
        foreach (Message message in ready.MessagesAfterPersist) SendMessage(node, message);
        foreach (LogEntry entry in ready.CommittedEntries)
        {
            ReadOnlyMemory<byte> reply = node.StateMachine!.Apply(entry);
            _checker.OnApplied(node.Id, entry);
            ClientChecks.OnApplied(node.Id, entry, reply);
            AnswerProposal(node, entry, reply);
        }
        node.Outstanding = null;
        raft.Advance(ready);
        ReleaseReads(node);
        MaybeCheckpoint(node, ready.CommittedEntries.Count);
        MaybeSnapshot(node);
        Drive(node);
    }

    private void MaybeSnapshot(SimulatedNode node)
    {
        RaftNode raft = node.Raft!;
        if (_options.SnapshotThresholdBytes == 0 || raft.UncompactedLogBytes < _options.SnapshotThresholdBytes) return;
        ulong applied = node.StateMachine!.AppliedIndex;
        if (applied <= raft.Log.SnapshotIndex) return;
        using var image = node.StateMachine.TakeSnapshot();
        using var bytes = new MemoryStream();
        image.WriteTo(bytes);
        SnapshotMetadata metadata = raft.DescribeSnapshot(applied);
        node.Storage.SaveSnapshot(metadata, bytes.ToArray());
        raft.CompactLog(metadata);
        Trace?.Invoke($"{NowMs,6}ms node {node.Id} compacted to {metadata}");
    }

    // ---- network -----------------------------------------------------------------------------------------------

    private void SendMessage(SimulatedNode from, Message message)
    {
        byte[]? snapshotData = null;
        if (message.Type == MessageType.InstallSnapshot && from.Storage.Snapshots is not null)
        {
            StartSnapshotTransfer(from, message);
            return;
        }
        if (message.Type == MessageType.InstallSnapshot)
        {
            // The transport streams the latest snapshot file beside the message, which may be newer than the one
            // the message named when it was queued; the metadata travels with the bytes it describes.
            var latest = from.Storage.LatestSnapshot;
            if (latest is null || latest.Value.Metadata.Index < message.Snapshot!.Index)
            {
                _checker.Violation($"node {from.Id} sends snapshot {message.Snapshot} it does not hold");
                return;
            }
            snapshotData = latest.Value.Data;
            message = message with { Snapshot = latest.Value.Metadata };
        }
        int copies = _faultsOn && _random.Chance(_options.DuplicateRate) ? 2 : 1;
        for (int i = 0; i < copies; i++)
        {
            if (_faultsOn && _random.Chance(_options.DropRate)) continue;
            Schedule(_random.Next(_options.MinLatencyMs, _options.MaxLatencyMs + 1), new Delivery(message, snapshotData));
        }
    }

    private void Deliver(Delivery delivery)
    {
        Message message = delivery.Message;
        SimulatedNode target = _nodes[(int)message.To - 1];
        if (!target.IsUp || _blockedLinks.Contains((message.From, message.To))) return;
        if (delivery.SnapshotData is not null) target.StageSnapshot(message.Snapshot!.Index, delivery.SnapshotData);
        Trace?.Invoke($"{NowMs,6}ms deliver {message}");
        Guard(target, node => node.Raft!.Step(message));
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
    /// One membership change through the leader's admin API: add a learner (a spare, or a removed node that was
    /// left running), promote one, remove a follower or a learner, remove the leader itself, or transfer
    /// leadership. Sometimes a second change follows at once: the core must refuse it while the first is
    /// uncommitted (thesis 4.1), which the checker verifies on every leader's log.
    /// </summary>
    private void ChangeMembership()
    {
        int changes = _random.Chance(0.3) ? 2 : 1;
        for (int i = 0; i < changes; i++)
        {
            if (LeaderNode() is not { } leader) return;
            Guard(leader, OneMembershipChange);
        }
    }

    private void OneMembershipChange(SimulatedNode leader)
    {
        RaftNode raft = leader.Raft!;
        ClusterConfiguration configuration = raft.Configuration;
        ulong[] outsiders = [.. _nodes.Select(n => n.Id).Where(id => !configuration.IsMember(id))];
        ulong[] otherVoters = [.. configuration.Voters.Where(v => v != leader.Id)];
        ulong[] removable = [.. (configuration.Voters.Count > MinVoters ? otherVoters : []).Concat(configuration.Learners)];
        string what;
        bool accepted;
        switch (_random.Next(0, 5))
        {
            case 0 when outsiders.Length > 0:
                ulong joining = outsiders[_random.Next(0, outsiders.Length)];
                what = $"add learner {joining}";
                accepted = raft.AddLearner(joining).IsAccepted;
                break;
            case 1 when configuration.Learners.Count > 0 && configuration.Voters.Count < MaxVoters:
                ulong promoted = configuration.Learners[_random.Next(0, configuration.Learners.Count)];
                what = $"promote {promoted}";
                accepted = raft.PromoteLearner(promoted).IsAccepted;
                break;
            case 2 when removable.Length > 0:
                ulong removed = removable[_random.Next(0, removable.Length)];
                what = $"remove {removed}";
                accepted = raft.RemoveMember(removed).IsAccepted;
                break;
            case 3 when configuration.Voters.Count > MinVoters && configuration.IsVoter(leader.Id):
                what = $"remove the leader {leader.Id}";
                accepted = raft.RemoveMember(leader.Id).IsAccepted;
                break;
            case 4 when otherVoters.Length > 0:
                ulong target = otherVoters[_random.Next(0, otherVoters.Length)];
                what = $"transfer leadership to {target}";
                accepted = raft.TransferLeadership(target).Outcome == TransferLeadershipOutcome.Started;
                if (accepted) _transfers++;
                Trace?.Invoke($"{NowMs,6}ms node {leader.Id}: {what}: {(accepted ? "started" : "refused")}");
                return;
            default:
                return;
        }
        if (accepted) _membershipChanges++;
        Trace?.Invoke($"{NowMs,6}ms node {leader.Id}: {what} in {configuration}: {(accepted ? "accepted" : "refused")}");
    }

    /// <summary>
    /// The driver's side of a Ready's read states, plus two checks. A successful read index is at least every
    /// commit index reached before the read was asked (a stale read would violate linearizability). And fail-fast:
    /// when a Ready is taken, no read asked under another leadership (leader or term) than the node's current one
    /// may still be pending - the core must have failed it in this Ready.
    /// </summary>
    private void CompleteReads(SimulatedNode node, Ready ready)
    {
        foreach (ReadState state in ready.ReadStates)
        {
            if (node.Reads.Remove(state.RequestId, out ClientRequest request))
            {
                // The driver's part: a confirmed read index waits until this node has applied it; a failed one is retryable.
                if (state.Succeeded) node.ReadsWaitingForApply.Enqueue(request, state.Index);
                else Respond(node, request, new ClientResponse(Error: "leadership could not be confirmed; retry", LeaderHint: state.LeaderHint));
            }
            if (!_reads.Remove(state.RequestId, out ClientRead read)) continue;
            if (read.NodeIndex != node.Index || read.Incarnation != node.Incarnation)
            {
                _checker.Violation($"read {state.RequestId} answered on node {node.Id} but asked elsewhere");
                continue;
            }
            if (!state.Succeeded) continue;
            _readsServed++;
            if (state.Index < read.CommittedBefore)
            {
                _checker.Violation($"linearizability: read {state.RequestId} on node {node.Id} got read index {state.Index}, " +
                                   $"but index {read.CommittedBefore} had committed before it was asked");
            }
        }
        RaftNode raft = node.Raft!;
        foreach ((ulong id, ClientRead read) in _reads.ToArray())
        {
            if (read.NodeIndex != node.Index) continue;
            if (read.Incarnation != node.Incarnation)
            {
                _reads.Remove(id); // the node crashed: its driver failed every read it held
                continue;
            }
            if ((read.Leader, read.Term) != (raft.Leader, raft.Term))
            {
                _checker.Violation($"fail fast: read {id} asked on node {node.Id} under leader {read.Leader} of term {read.Term} " +
                                   $"is still pending now that it sees leader {raft.Leader} of term {raft.Term}");
                _reads.Remove(id);
            }
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
        RunUntil(NowMs + 5_000, () => members.Select(n => n.StateMachine!.AppliedIndex).Distinct().Count() == 1);
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

    private void Schedule(long delayMs, SimEvent simEvent) => _events.Enqueue(simEvent, (NowMs + delayMs, _sequence++));

    private long Exponential(int meanMs) => 1 + (long)(-Math.Log(1 - _random.NextDouble()) * meanMs);

    private abstract record SimEvent;
    private sealed record NodeTick(int Index, int Incarnation) : SimEvent;
    private sealed record Delivery(Message Message, byte[]? SnapshotData) : SimEvent;
    private sealed record PersistDone(int Index, int Incarnation, Ready Ready) : SimEvent;
    private sealed record ClientTick : SimEvent;
    private sealed record PartitionChange : SimEvent;
    private sealed record CrashSomeNode : SimEvent;
    private sealed record RestartNode(int Index) : SimEvent;
    private sealed record MembershipChange : SimEvent;
    private sealed record ClientRequestArrives(int NodeIndex, ClientRequest Request) : SimEvent;
    private sealed record ClientResponseArrives(ClientRequest Request, ClientResponse Response) : SimEvent;
    private sealed record CheckpointDurable(int Index, int Incarnation, ulong AppliedIndex, byte[] Image) : SimEvent;
}
