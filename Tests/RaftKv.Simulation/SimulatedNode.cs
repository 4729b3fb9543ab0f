using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Simulation;

/// <summary>
/// One simulated silo: a Raft node, the real KV state machine semantics (<see cref="MemoryKvStateMachine"/>), and
/// storage that outlives crashes, plus what a silo's driver holds for its clients: proposals waiting to be applied
/// and reads waiting for their read index.
/// </summary>
/// <remarks>
/// FASTER's checkpoints are modelled, not run: a checkpoint captures the state machine's snapshot bytes at the applied
/// index (the CPR cut) and becomes durable only later (<see cref="DurableCheckpoint"/>); a crash loses everything
/// applied since the last durable checkpoint, and a restart starts from that checkpoint (or from the Raft snapshot
/// when that is newer, as the silo's driver does) and re-applies the rest of the log.
/// </remarks>
internal sealed class SimulatedNode(ulong id, ISimulatedStorage storage)
{
    private readonly Dictionary<ulong, byte[]> _stagedSnapshots = [];

    public ulong Id => id;

    public int Index => (int)id - 1;

    public ISimulatedStorage Storage => storage;

    public RaftNode? Raft { get; private set; }

    public MemoryKvStateMachine? StateMachine { get; private set; }

    public Ready? Outstanding { get; set; }

    /// <summary>The term this node led when its last Ready was taken (0: it was not leading).</summary>
    public ulong LeadingTermAtLastReady { get; set; }

    public int Incarnation { get; private set; }

    public bool IsUp => Raft is not null;

    /// <summary>The last completed FASTER checkpoint: survives crashes.</summary>
    public (ulong Index, byte[] Image)? DurableCheckpoint { get; set; }

    /// <summary>Entries applied since the last checkpoint started (the driver's checkpoint policy).</summary>
    public int AppliedSinceCheckpoint { get; set; }

    /// <summary>Proposals by log index: the term they were proposed in and the client request waiting for the reply.</summary>
    public Dictionary<ulong, (ulong Term, ClientRequest Request)> Proposals { get; } = [];

    /// <summary>Reads whose ReadIndex was asked, by read request id.</summary>
    public Dictionary<ulong, ClientRequest> Reads { get; } = [];

    /// <summary>Reads with a confirmed read index, waiting until this node has applied it.</summary>
    public PriorityQueue<ClientRequest, ulong> ReadsWaitingForApply { get; } = new();

    /// <summary>The receiving side of chunked InstallSnapshot (volatile: a crash forgets it; the store keeps or cleans its temp file).</summary>
    public RaftKv.Storage.Snapshots.SnapshotReceiver? SnapshotReceiver { get; set; }

    public bool IsCurrent(int incarnation) => IsUp && incarnation == Incarnation;

    public void Start(PersistentState state, byte[]? snapshotData, RaftOptions options, StateMachineOptions stateMachineOptions)
    {
        Incarnation++;
        StateMachine = new MemoryKvStateMachine(stateMachineOptions);
        if (DurableCheckpoint is { } checkpoint && checkpoint.Index >= (state.Snapshot?.Index ?? 0))
        {
            StateMachine.Restore(checkpoint.Index, new MemoryStream(checkpoint.Image));
        }
        else if (snapshotData is not null)
        {
            // The checkpoint is older than the Raft snapshot the log was compacted to: start from the snapshot.
            StateMachine.Restore(state.Snapshot!.Index, new MemoryStream(snapshotData));
        }
        Raft = new RaftNode(options, state with { AppliedIndex = StateMachine.AppliedIndex });
        Outstanding = null;
        LeadingTermAtLastReady = 0;
        AppliedSinceCheckpoint = 0;
    }

    /// <summary>Loses everything volatile and whatever storage had not synced; clients waiting on this node hear nothing.</summary>
    public void Crash()
    {
        Raft = null;
        StateMachine = null;
        Outstanding = null;
        _stagedSnapshots.Clear();
        Proposals.Clear();
        Reads.Clear();
        ReadsWaitingForApply.Clear();
        SnapshotReceiver = null;
        storage.Crash();
        Incarnation++;
    }

    public void StageSnapshot(ulong index, byte[] data) => _stagedSnapshots[index] = data;

    public byte[]? TakeStagedSnapshot(ulong index) => _stagedSnapshots.Remove(index, out byte[]? data) ? data : null;

    public string Describe() => IsUp
        ? $"node {id}: {Raft!.Role} t{Raft.Term} commit={Raft.Log.Committed} applied={StateMachine!.AppliedIndex} last={Raft.Log.LastIndex}"
        : $"node {id}: down";
}
