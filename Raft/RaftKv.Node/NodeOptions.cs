using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Node;

/// <summary>One member of the cluster as every silo is told about it.</summary>
public sealed record NodeMember
{
    public ulong Id { get; init; }

    /// <summary>Peer mesh address, e.g. http://127.0.0.1:7201 (Raft traffic only).</summary>
    public string PeerAddress { get; init; } = "";

    /// <summary>Client gateway address, e.g. http://127.0.0.1:7101 (used for leader hints and forwarding).</summary>
    public string ClientAddress { get; init; } = "";
}

/// <summary>
/// Node configuration, bound from the "RaftKv" section of appsettings, environment (RaftKv__NodeId=...) and the
/// command line (--RaftKv:NodeId=...). Immutable after binding; <see cref="Validate"/> runs at start.
/// </summary>
public sealed record NodeOptions
{
    public const string SectionName = "RaftKv";

    public ulong NodeId { get; init; }

    /// <summary>Where this node keeps its WAL, snapshots and FASTER store.</summary>
    public string DataDirectory { get; init; } = "data";

    /// <summary>Every member including this one. Peer and client ports of this node come from its own entry.</summary>
    public List<NodeMember> Members { get; init; } = [];

    public int TickIntervalMs { get; init; } = 10;

    /// <summary>Base election timeout; timers are drawn from [ElectionTimeoutMs, 2 * ElectionTimeoutMs).</summary>
    public int ElectionTimeoutMs { get; init; } = 300;

    public int HeartbeatIntervalMs { get; init; } = 50;

    /// <summary>Snapshot the state machine and compact the log once uncompacted entries exceed this many bytes.</summary>
    public long SnapshotThresholdBytes { get; init; } = 64L * 1024 * 1024;

    public long WalSegmentSizeBytes { get; init; } = 64L * 1024 * 1024;

    public int MaxAppendBytes { get; init; } = 1024 * 1024;

    public int MaxInflightMessages { get; init; } = 256;

    /// <summary>Memory FASTER may use for the hot part of its log before pages go to disk (a power of two).</summary>
    public long StateMachineMemoryBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Checkpoint FASTER after this many applied entries, bounding replay after a restart.</summary>
    public int CheckpointEveryEntries { get; init; } = 500_000;

    /// <summary>
    /// A stopping node checkpoints FASTER only when at least this many entries were applied since the last checkpoint;
    /// with fewer, the restart replays them from the WAL instead (exactly what it does after a crash). A checkpoint
    /// writes the whole index and fsyncs, about 1.1 s on the shared test machine, which was most of a silo's stop time.
    /// </summary>
    public int CheckpointOnStopMinEntries { get; init; } = 100_000;

    /// <summary>A follower's read waits at most this long for the leader's read index before failing.</summary>
    public int ReadIndexTimeoutMs { get; init; } = 2_000;

    /// <summary>
    /// How long a stopping silo lets open requests finish before aborting them. Peers hold their Raft streams into
    /// this silo open indefinitely, so a graceful stop always waits this long; without a bound it waited the host's
    /// default 30 s, and a node that fail-stopped on a full disk stayed up, refusing everything, for 30 s before it
    /// exited and could be restarted (found by the chaos runner, Tests/RaftKv.Chaos).
    /// </summary>
    public int ShutdownTimeoutMs { get; init; } = 3_000;

    /// <summary>When set, the silo stops once that process is gone (the local-cluster launcher and test harnesses set it, so no silo outlives them).</summary>
    public int ParentProcessId { get; init; }

    /// <summary>Test only: exposes a fault-injection method on the client port (isolate this node from its peers).</summary>
    public bool EnableTestFaults { get; init; }

    /// <summary>
    /// Test only, and only with <see cref="EnableTestFaults"/>: linearizable reads skip ReadIndex and read the local
    /// state, on leaders and followers alike. This breaks linearizability on purpose, so that the chaos runner can
    /// show it catches stale reads (Tests/RaftKv.Chaos).
    /// </summary>
    public bool TestFaultServeReadsLocally { get; init; }

    /// <summary>
    /// Test only, and only with <see cref="EnableTestFaults"/>: the leader acknowledges a Put as soon as it has
    /// appended it to its log, before the entry commits, with revisions equal to the entry's index. Acknowledged
    /// writes are then lost when that leader is cut off or killed; this exists so that the chaos runner can show it
    /// catches lost writes.
    /// </summary>
    public bool TestFaultAcknowledgeBeforeCommit { get; init; }

    public NodeMember Self => Members.Single(m => m.Id == NodeId);

    public RaftOptions ToRaftOptions(ulong randomSeed) => new()
    {
        NodeId = NodeId,
        ElectionTimeoutTicks = Math.Max(2, ElectionTimeoutMs / TickIntervalMs),
        HeartbeatIntervalTicks = Math.Max(1, HeartbeatIntervalMs / TickIntervalMs),
        RandomSeed = randomSeed,
        MaxAppendBytes = MaxAppendBytes,
        MaxInflightMessages = MaxInflightMessages,
    };

    public StateMachineOptions ToStateMachineOptions() => new() { LogMemorySizeBytes = StateMachineMemoryBytes };

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (NodeId == 0) errors.Add("RaftKv:NodeId must be set to a non-zero id.");
        if (Members.Count == 0) errors.Add("RaftKv:Members must list every member (Id, PeerAddress, ClientAddress).");
        if (Members.Count(m => m.Id == NodeId) != 1) errors.Add($"RaftKv:Members must contain this node ({NodeId}) exactly once.");
        if (Members.Select(m => m.Id).Distinct().Count() != Members.Count) errors.Add("RaftKv:Members has duplicate ids.");
        foreach (NodeMember member in Members)
        {
            if (member.Id == 0) errors.Add("RaftKv:Members: id 0 is reserved.");
            if (!Uri.TryCreate(member.PeerAddress, UriKind.Absolute, out _)) errors.Add($"member {member.Id}: PeerAddress '{member.PeerAddress}' is not an absolute URI.");
            if (!Uri.TryCreate(member.ClientAddress, UriKind.Absolute, out _)) errors.Add($"member {member.Id}: ClientAddress '{member.ClientAddress}' is not an absolute URI.");
        }
        if (string.IsNullOrWhiteSpace(DataDirectory)) errors.Add("RaftKv:DataDirectory must be set.");
        if (TickIntervalMs < 1) errors.Add("RaftKv:TickIntervalMs must be positive.");
        if (HeartbeatIntervalMs < TickIntervalMs) errors.Add("RaftKv:HeartbeatIntervalMs must be at least TickIntervalMs.");
        if (ElectionTimeoutMs < 2 * HeartbeatIntervalMs) errors.Add("RaftKv:ElectionTimeoutMs must be at least twice HeartbeatIntervalMs.");
        if (SnapshotThresholdBytes < 4096) errors.Add("RaftKv:SnapshotThresholdBytes must be at least 4096.");
        // The state machine's own rules are the single source of truth (e.g. two FASTER pages of memory at least).
        foreach (string error in ToStateMachineOptions().Validate()) errors.Add($"RaftKv:StateMachineMemoryBytes ({StateMachineMemoryBytes}): {error}");
        if (!EnableTestFaults && (TestFaultServeReadsLocally || TestFaultAcknowledgeBeforeCommit))
            errors.Add("RaftKv:TestFaultServeReadsLocally and RaftKv:TestFaultAcknowledgeBeforeCommit need RaftKv:EnableTestFaults=true.");
        if (ShutdownTimeoutMs < 0) errors.Add("RaftKv:ShutdownTimeoutMs must not be negative.");
        if (CheckpointEveryEntries < 1) errors.Add("RaftKv:CheckpointEveryEntries must be positive.");
        if (CheckpointOnStopMinEntries < 0) errors.Add("RaftKv:CheckpointOnStopMinEntries must not be negative (0 checkpoints at every stop).");
        return errors;
    }
}
