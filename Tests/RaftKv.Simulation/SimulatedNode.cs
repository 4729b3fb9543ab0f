using RaftKv.Raft;

namespace RaftKv.Simulation;

/// <summary>One simulated silo: a Raft node, its state machine, and storage that outlives crashes.</summary>
internal sealed class SimulatedNode(ulong id, ISimulatedStorage storage)
{
    private readonly Dictionary<ulong, byte[]> _stagedSnapshots = [];

    public ulong Id => id;

    public int Index => (int)id - 1;

    public ISimulatedStorage Storage => storage;

    public RaftNode? Raft { get; private set; }

    public SimulatedStateMachine? StateMachine { get; private set; }

    public Ready? Outstanding { get; set; }

    /// <summary>The term this node led when its last Ready was taken (0: it was not leading).</summary>
    public ulong LeadingTermAtLastReady { get; set; }

    public int Incarnation { get; private set; }

    public bool IsUp => Raft is not null;

    public bool IsCurrent(int incarnation) => IsUp && incarnation == Incarnation;

    public void Start(PersistentState state, byte[]? snapshotData, RaftOptions options)
    {
        Incarnation++;
        StateMachine = new SimulatedStateMachine();
        if (snapshotData is not null) StateMachine.Restore(state.Snapshot!.Index, new MemoryStream(snapshotData));
        Raft = new RaftNode(options, state with { AppliedIndex = StateMachine.AppliedIndex });
        Outstanding = null;
        LeadingTermAtLastReady = 0;
    }

    /// <summary>Loses everything volatile and whatever storage had not synced.</summary>
    public void Crash()
    {
        Raft = null;
        StateMachine = null;
        Outstanding = null;
        _stagedSnapshots.Clear();
        storage.Crash();
        Incarnation++;
    }

    public void StageSnapshot(ulong index, byte[] data) => _stagedSnapshots[index] = data;

    public byte[]? TakeStagedSnapshot(ulong index) => _stagedSnapshots.Remove(index, out byte[]? data) ? data : null;

    public string Describe() => IsUp
        ? $"node {id}: {Raft!.Role} t{Raft.Term} commit={Raft.Log.Committed} applied={StateMachine!.AppliedIndex} last={Raft.Log.LastIndex}"
        : $"node {id}: down";
}
