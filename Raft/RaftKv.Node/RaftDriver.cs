using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using RaftKv.Mesh;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Node;

/// <summary>Sends Raft messages to peers without blocking; the peer mesh in production, a fake in tests.</summary>
public interface IRaftTransport
{
    void Send(Message message);

    /// <summary>
    /// A member joined (or moved): deliver its messages to <paramref name="peerAddress"/> from now on. Called on the
    /// driver thread. Transports with a fixed peer set (tests, the simulator) may ignore it.
    /// </summary>
    void AddPeer(ulong id, string peerAddress)
    {
    }
}

/// <summary>
/// Drives one <see cref="RaftNode"/>: the single owner of the Raft core, the node's storage and the state machine's
/// apply path. Everything else (gateway calls, peer messages, timer ticks) reaches it as inputs in one queue. Each
/// step (<see cref="RunOnce"/>) drains every queued input — so all proposals and reads that arrived meanwhile share
/// one Ready, one AppendEntries per follower and one fsync (group commit) — then carries out the Ready contract: send
/// leader messages, persist, send acknowledgements, apply, advance.
/// </summary>
/// <remarks>
/// Two hosts run the same steps. A silo calls <see cref="Start"/>: a dedicated thread waits on the queue and runs a
/// step whenever inputs arrive, and a <see cref="TimeProvider"/> timer queues ticks. The deterministic simulator calls
/// <see cref="Attach"/> (its simulated clock queues the ticks) and runs <see cref="RunOnce"/> itself, on its one
/// thread, with the seams of <see cref="RaftDriverSeams"/> swapped: background work as simulated events, seeded
/// randomness, callers completed inline.
/// </remarks>
public sealed partial class RaftDriver : IRaftKvNode, IPeerMessageHandler, IDisposable
{
    private readonly NodeOptions _options;
    private readonly RaftNode _raft;
    private readonly NodeStorage _storage;
    private readonly IKvStateMachine _stateMachine;
    private readonly RaftDriverSeams _seams;
    private readonly TaskCreationOptions _completion;
    private readonly TimeProvider _time;
    private readonly NodeMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action<Exception> _onFatal;
    private readonly SlowStepWatch _slowSteps;
    // Synchronous continuations: the only waiter is the driver thread's WaitForInput, whose continuation just sets
    // _inputArrived; without them every input took a thread-pool hop to wake the driver.
    private readonly Channel<Input> _inbox = Channel.CreateUnbounded<Input>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
    private readonly Dictionary<ulong, (ulong Term, TaskCompletionSource<ReadOnlyMemory<byte>> Reply)> _proposals = [];
    private readonly Dictionary<ulong, (TaskCompletionSource<ulong> Done, long StartTimestamp)> _reads = [];
    private readonly PriorityQueue<(TaskCompletionSource<ulong> Done, long StartTimestamp, ulong ReadIndex), ulong> _readsWaitingForApply = new();
    private Thread? _thread;
    // Completed by the driver thread as it ends; StopAsync awaits it rather than blocking a thread-pool thread in Join,
    // which the pool cannot see while the checkpoint on stop needs it for FASTER's device writes.
    private readonly TaskCompletionSource _loopEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IRaftTransport? _transport;
    private SnapshotReceiver? _snapshotReceiver;
    private ITimer? _ticker;
    private volatile RaftStatus _status;
    private volatile bool _isolated;
    private ulong _nextReadId;
    private ulong _knownLeader;
    private ulong _knownTerm;
    private ulong _appliedSinceCheckpoint;
    private int _ticksSinceSample;
    private bool _snapshotInProgress;
    private volatile bool _stopped;
    private HardState _savedHardState;
    private TaskCompletionSource<bool>? _handOff;
    // The role, term and leader last reported to LeadershipChanged.
    private (RaftRole Role, ulong Term, ulong Leader) _reportedLeadership;

    public RaftDriver(NodeOptions options, NodeStorage storage, IKvStateMachine stateMachine, TimeProvider timeProvider, NodeMetrics metrics, ILogger logger,
        Action<Exception> onFatal, RaftDriverSeams? seams = null)
    {
        _seams = seams ?? RaftDriverSeams.Default;
        _completion = _seams.CompleteCallersInline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously;
        _options = options;
        _time = timeProvider;
        _metrics = metrics;
        _storage = storage;
        _stateMachine = stateMachine;
        _logger = logger;
        _onFatal = onFatal;
        _slowSteps = new SlowStepWatch(timeProvider, logger, options.NodeId, options.HeartbeatIntervalMs, metrics);
        _addresses = options.Members.ToDictionary(m => m.Id);

        PersistentState state = storage.ReadPersistentState();
        SnapshotMetadata snapshot = state.Snapshot!;
        if (stateMachine.AppliedIndex < snapshot.Index)
        {
            // FASTER's last checkpoint is older than the Raft snapshot the WAL was compacted to: start from the snapshot.
            stateMachine.Restore(snapshot.Index, new MemoryStream(storage.ReadLatestSnapshotData()));
        }
        if (stateMachine.AppliedIndex > storage.LastIndex)
        {
            throw new InvalidOperationException(
                $"the state machine reflects log index {stateMachine.AppliedIndex}, beyond the WAL's last index {storage.LastIndex}: the data directory is inconsistent");
        }
        ulong seed = _seams.RandomSeed ?? (ulong)timeProvider.GetTimestamp() ^ options.NodeId;
        RaftOptions raftOptions = options.ToRaftOptions(seed);
        _raft = new RaftNode(_seams.ConfigureRaft?.Invoke(raftOptions) ?? raftOptions, state with { AppliedIndex = stateMachine.AppliedIndex });
        // Read ids must never repeat across restarts: a delayed ReadIndexResponse for a read of an earlier
        // incarnation would otherwise complete a new read with an old (possibly stale) read index.
        _nextReadId = (_seams.RandomSeed is { } fixedSeed ? Mix(fixedSeed) : (ulong)Random.Shared.NextInt64()) & ~0xFFFF_FFFFUL;
        _savedHardState = state.HardState;
        _status = _raft.Status;
        NodeLog.Recovered(_logger, options.NodeId, state.HardState.Term, snapshot.Index, storage.LastIndex, stateMachine.AppliedIndex);
    }

    /// <summary>SplitMix64's finalizer: a seed's bits spread over the whole word.</summary>
    private static ulong Mix(ulong value)
    {
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9UL;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EBUL;
        return value ^ (value >> 31);
    }

    public ulong NodeId => _options.NodeId;

    public RaftStatus Status => _status;

    /// <inheritdoc />
    public event Action<RaftStatus>? LeadershipChanged;

    public IKvStateMachine StateMachine => _stateMachine;

    /// <summary>The core, for the simulator's checkers (read-only use between steps).</summary>
    internal RaftNode Core => _raft;

    /// <summary>Whether inputs wait for the next <see cref="RunOnce"/>.</summary>
    public bool HasPendingInput => _inbox.Reader.TryPeek(out _);

    /// <summary>
    /// The callers' tasks that wait for this node's leadership (or its leader's) to confirm them: proposals not yet
    /// applied and reads not yet given a read index. Reads holding a confirmed read index (waiting only for this node
    /// to apply it) are not among them. For the simulator's fail-fast checker.
    /// </summary>
    internal IEnumerable<Task> RequestsAwaitingLeadership =>
        _proposals.Values.Select(p => (Task)p.Reply.Task).Concat(_reads.Values.Select(r => (Task)r.Done.Task));

    /// <summary>Test-only fault: drop every peer message in and out, as a network partition would.</summary>
    public bool Isolated
    {
        get => _isolated;
        set => _isolated = value;
    }

    /// <summary>
    /// Starts the driver on its own thread (a silo). The thread keeps the tick timer itself: it waits for inputs until
    /// the next tick is due (RaftDriver.Ticks.cs), so the <see cref="TimeProvider"/>'s timestamps must follow real time.
    /// </summary>
    public void Start(IRaftTransport transport)
    {
        AttachCore(transport, useTimer: false);
        _thread = new Thread(RunLoop) { IsBackground = true, Name = $"raft-driver-{_options.NodeId}" };
        _thread.Start();
    }

    /// <summary>
    /// Connects the transport and starts the tick timer, without a thread: the caller runs <see cref="RunOnce"/> itself
    /// whenever <see cref="HasPendingInput"/> (the simulator, single-threaded in virtual time).
    /// </summary>
    public void Attach(IRaftTransport transport) => AttachCore(transport, useTimer: true);

    private void AttachCore(IRaftTransport transport, bool useTimer)
    {
        if (_transport is not null) throw new InvalidOperationException("the driver is already started");
        _transport = transport;
        RefreshAddresses();
        _status = _raft.Status;
        // Tickless: a one-shot timer armed for the core's next timer (RaftDriver.Ticks.cs), first one tick from now.
        _tickEpoch = _time.GetTimestamp();
        _armedTick = 1;
        if (useTimer)
        {
            _ticker = _time.CreateTimer(_ => _inbox.Writer.TryWrite(new Input.TickInput(_time.GetTimestamp())), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        ArmTimer(TickInterval);
    }

    // ---- inputs from other threads ---------------------------------------------------------------------------------

    public Task<ReadOnlyMemory<byte>> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken)
    {
        var reply = new TaskCompletionSource<ReadOnlyMemory<byte>>(_completion);
        Post(new Input.Propose(command, reply));
        return reply.Task.WaitAsync(cancellationToken);
    }

    public Task ReadIndexAsync(CancellationToken cancellationToken) => ConfirmReadIndexAsync(cancellationToken);

    /// <summary>
    /// <see cref="ReadIndexAsync"/>, completing with the confirmed read index (Raft thesis 6.4) once this node has
    /// applied it: every write acknowledged before the call is at or below it.
    /// </summary>
    public Task<ulong> ConfirmReadIndexAsync(CancellationToken cancellationToken)
    {
        // Test fault (validated to need EnableTestFaults): no ReadIndex at all, the caller reads whatever is applied here.
        if (_options.TestFaultServeReadsLocally) return Task.FromResult(_stateMachine.AppliedIndex);
        var done = new TaskCompletionSource<ulong>(_completion);
        Post(new Input.Read(done));
        return done.Task.WaitAsync(cancellationToken);
    }

    public void OnMessage(Message message)
    {
        if (!_isolated) _inbox.Writer.TryWrite(new Input.Step(message, _time.GetTimestamp()));
    }

    public Task<ChunkReceipt> OnSnapshotChunkAsync(Message installSnapshot, SnapshotChunk chunk, CancellationToken cancellationToken)
    {
        if (_isolated) return Task.FromException<ChunkReceipt>(new UnavailableException("isolated"));
        var receipt = new TaskCompletionSource<ChunkReceipt>(_completion);
        Post(new Input.Chunk(installSnapshot, chunk, receipt));
        return receipt.Task.WaitAsync(cancellationToken);
    }

    public Task<SnapshotChunker?> OpenLatestSnapshotAsync(CancellationToken cancellationToken)
    {
        var chunker = new TaskCompletionSource<SnapshotChunker?>(_completion);
        Post(new Input.OpenSnapshot(chunker));
        return chunker.Task.WaitAsync(cancellationToken);
    }

    public Task<CapturedSnapshot> CaptureSnapshotAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Not WaitAsync(cancellationToken): a capture the caller stopped waiting for would hold the store forever.
        // The driver answers at its next drain (or fails it at shutdown), so this wait is short.
        var captured = new TaskCompletionSource<CapturedSnapshot>(_completion);
        Post(new Input.CaptureSnapshot(captured));
        return captured.Task;
    }

    /// <summary>
    /// If this node leads, moves leadership to the most caught-up voter (Raft thesis 3.10) and completes once this
    /// node has stepped down (true) or the transfer was refused or abandoned after an election timeout (false). A
    /// stopping silo calls it first, so that the cluster does not wait an election timeout for a new leader and its
    /// own last writes (Orleans leaving the membership table) are committed by a leader that is not going away.
    /// Completes with false at once when this node is not the leader.
    /// </summary>
    public Task<bool> HandOffLeadershipAsync()
    {
        var done = new TaskCompletionSource<bool>(_completion);
        Post(new Input.HandOffLeadership(done));
        return done.Task;
    }

    public void OnSnapshotFailed(ulong peer) => _inbox.Writer.TryWrite(new Input.SnapshotFailed(peer));

    private void Post(Input input)
    {
        if (_stopped || !_inbox.Writer.TryWrite(input)) input.Fail(new UnavailableException("the node is shutting down", mayHaveBeenApplied: false));
    }

    /// <summary>Stops the loop, fails everything pending, and checkpoints FASTER if the restart would otherwise replay many entries (NodeOptions.CheckpointOnStopMinEntries).</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        _ticker?.Dispose();
        _inbox.Writer.TryComplete();
        if (_thread is not null) await _loopEnded.Task.ConfigureAwait(false);
    }

    private void RunLoop()
    {
        try
        {
            Loop();
        }
        finally
        {
            _loopEnded.TrySetResult();
        }
    }

    public void Dispose()
    {
        _metrics.Publish(null);
        _ticker?.Dispose();
        _snapshotReceiver?.Dispose();
    }
}
