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

    /// <summary>
    /// Optional HTTP/1.1 monitoring address, e.g. http://127.0.0.1:7301: <c>/metrics</c> (Prometheus text),
    /// <c>/healthz</c> and <c>/readyz</c>. Empty: the node has no monitoring port.
    /// </summary>
    public string HttpAddress { get; init; } = "";
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

    /// <summary>
    /// Where this node's peer port listens, when it differs from the address the other members are given (its
    /// <see cref="NodeMember.PeerAddress"/>, the advertised one): behind NAT or a container's port mapping. Empty: the
    /// advertised address. The two must lead to the same socket, or the peers never reach this node.
    /// </summary>
    public string PeerListenAddress { get; init; } = "";

    /// <summary>Where the client port listens, when it differs from the advertised <see cref="NodeMember.ClientAddress"/>. Empty: the advertised one.</summary>
    public string ClientListenAddress { get; init; } = "";

    /// <summary>Where the monitoring port listens, when it differs from the advertised <see cref="NodeMember.HttpAddress"/>. Empty: the advertised one.</summary>
    public string HttpListenAddress { get; init; } = "";

    /// <summary>
    /// The resolution of the Raft core's timers (election timeout, heartbeat, CheckQuorum count ticks). The driver does
    /// not wake every tick: it sleeps until the core's next timer is due and counts the elapsed ticks when it wakes
    /// (RaftDriver.Ticks.cs), so a finer tick costs no idle CPU.
    /// </summary>
    public int TickIntervalMs { get; init; } = 10;

    /// <summary>
    /// Base election timeout; timers are drawn from [ElectionTimeoutMs, 2 * ElectionTimeoutMs). A follower campaigns (after
    /// PreVote) when it has not heard from a leader for that long, so a leader stalled for ElectionTimeoutMs minus
    /// <see cref="HeartbeatIntervalMs"/> (300 ms with the defaults) can lose its leadership, and a dead leader is replaced
    /// after about 1.5 times it. See docs/architecture.md, "Tickless idling", for why 400 and 100.
    /// </summary>
    public int ElectionTimeoutMs { get; init; } = 400;

    /// <summary>
    /// How often an idle leader sends heartbeats (each one answered). Every heartbeat costs an idle silo a few thread
    /// wake-ups on both ends; etcd's default is 100 ms too.
    /// </summary>
    public int HeartbeatIntervalMs { get; init; } = 100;

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

    /// <summary>
    /// A learner more than this many entries behind the leader's last index is not promoted to voter (Raft thesis
    /// 4.2.1): a voter that cannot keep up would count towards quorums it cannot help form.
    /// </summary>
    public int MaxPromotionLagEntries { get; init; } = 1_000;

    /// <summary>
    /// Join an existing cluster instead of forming one: the client (gateway) address of any current member. The node
    /// starts with an empty configuration (it neither campaigns nor votes), asks that member to add it as a learner,
    /// and catches up from the leader (by snapshot when the log is compacted); an operator then promotes it.
    /// <see cref="Members"/> then needs to list only this node. Ignored once the node's data directory holds a log.
    /// </summary>
    public string? Join { get; init; }

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

    /// <summary>
    /// Test only, and only with <see cref="EnableTestFaults"/>: the driver does not fail proposals and unconfirmed
    /// reads when leadership changes; they wait for their entry to be applied or overwritten, or for the read timeout.
    /// Nothing is unsafe, but clients wait for nothing; this exists so that the simulator can show its fail-fast
    /// checker catches it.
    /// </summary>
    public bool TestFaultKeepRequestsOnLeadershipLoss { get; init; }

    public NodeMember Self => Members.Single(m => m.Id == NodeId);

    /// <summary>The address the peer port binds: <see cref="PeerListenAddress"/>, or the advertised peer address.</summary>
    public Uri PeerListenUri => new(PeerListenAddress.Length > 0 ? PeerListenAddress : Self.PeerAddress);

    /// <summary>The address the client port binds: <see cref="ClientListenAddress"/>, or the advertised client address.</summary>
    public Uri ClientListenUri => new(ClientListenAddress.Length > 0 ? ClientListenAddress : Self.ClientAddress);

    /// <summary>The address the monitoring port binds (null: no monitoring port): <see cref="HttpListenAddress"/>, or the advertised one.</summary>
    public Uri? HttpListenUri =>
        HttpListenAddress.Length > 0 ? new Uri(HttpListenAddress) : Self.HttpAddress.Length > 0 ? new Uri(Self.HttpAddress) : null;

    public RaftOptions ToRaftOptions(ulong randomSeed) => new()
    {
        NodeId = NodeId,
        ElectionTimeoutTicks = Math.Max(2, ElectionTimeoutMs / TickIntervalMs),
        HeartbeatIntervalTicks = Math.Max(1, HeartbeatIntervalMs / TickIntervalMs),
        RandomSeed = randomSeed,
        MaxAppendBytes = MaxAppendBytes,
        MaxInflightMessages = MaxInflightMessages,
        MaxPromotionLagEntries = MaxPromotionLagEntries,
    };

    public StateMachineOptions ToStateMachineOptions() => new() { LogMemorySizeBytes = StateMachineMemoryBytes };

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (NodeId == 0) errors.Add("RaftKv:NodeId must be set to a non-zero id.");
        if (Members.Count == 0) errors.Add("RaftKv:Members must list every member (Id, PeerAddress, ClientAddress).");
        if (Members.Count(m => m.Id == NodeId) != 1) errors.Add($"RaftKv:Members must contain this node ({NodeId}) exactly once.");
        if (Members.Select(m => m.Id).Distinct().Count() != Members.Count) errors.Add("RaftKv:Members has duplicate ids.");
        for (int i = 0; i < Members.Count; i++)
        {
            NodeMember member = Members[i];
            if (member.Id == 0) errors.Add($"RaftKv:Members:{i}:Id: id 0 is reserved.");
            CheckAddress(errors, $"RaftKv:Members:{i}:PeerAddress", member.PeerAddress, required: true);
            CheckAddress(errors, $"RaftKv:Members:{i}:ClientAddress", member.ClientAddress, required: true);
            CheckAddress(errors, $"RaftKv:Members:{i}:HttpAddress", member.HttpAddress, required: false);
        }
        CheckAddress(errors, "RaftKv:PeerListenAddress", PeerListenAddress, required: false);
        CheckAddress(errors, "RaftKv:ClientListenAddress", ClientListenAddress, required: false);
        CheckAddress(errors, "RaftKv:HttpListenAddress", HttpListenAddress, required: false);
        if (errors.Count == 0)
        {
            // The three ports of this node must be three sockets: Kestrel would refuse to bind one twice, and the
            // endpoints are told apart by port.
            Uri? http = HttpListenUri;
            int[] ports = [PeerListenUri.Port, ClientListenUri.Port, .. http is null ? Array.Empty<int>() : [http.Port]];
            if (ports.Distinct().Count() != ports.Length)
                errors.Add($"RaftKv: this node's peer ({PeerListenUri}), client ({ClientListenUri}) and HTTP ({http?.ToString() ?? "none"}) listen addresses must use different ports.");
            if (HttpListenAddress.Length > 0 && Self.HttpAddress.Length == 0)
                errors.Add($"RaftKv:HttpListenAddress is set but this node's RaftKv:Members entry has no HttpAddress to advertise.");
        }
        if (string.IsNullOrWhiteSpace(DataDirectory)) errors.Add("RaftKv:DataDirectory must be set.");
        if (TickIntervalMs < 1) errors.Add("RaftKv:TickIntervalMs must be positive.");
        if (HeartbeatIntervalMs < TickIntervalMs) errors.Add("RaftKv:HeartbeatIntervalMs must be at least TickIntervalMs.");
        if (ElectionTimeoutMs < 2 * HeartbeatIntervalMs) errors.Add("RaftKv:ElectionTimeoutMs must be at least twice HeartbeatIntervalMs.");
        if (SnapshotThresholdBytes < 4096) errors.Add("RaftKv:SnapshotThresholdBytes must be at least 4096.");
        // The state machine's own rules are the single source of truth (e.g. two FASTER pages of memory at least).
        foreach (string error in ToStateMachineOptions().Validate()) errors.Add($"RaftKv:StateMachineMemoryBytes ({StateMachineMemoryBytes}): {error}");
        if (!EnableTestFaults && (TestFaultServeReadsLocally || TestFaultAcknowledgeBeforeCommit || TestFaultKeepRequestsOnLeadershipLoss))
            errors.Add("RaftKv:TestFaultServeReadsLocally, RaftKv:TestFaultAcknowledgeBeforeCommit and RaftKv:TestFaultKeepRequestsOnLeadershipLoss need RaftKv:EnableTestFaults=true.");
        if (ShutdownTimeoutMs < 0) errors.Add("RaftKv:ShutdownTimeoutMs must not be negative.");
        if (MaxPromotionLagEntries < 0) errors.Add("RaftKv:MaxPromotionLagEntries must not be negative.");
        if (Join is not null && !Uri.TryCreate(Join, UriKind.Absolute, out _)) errors.Add($"RaftKv:Join '{Join}' is not an absolute URI (the client address of an existing member).");
        if (CheckpointEveryEntries < 1) errors.Add("RaftKv:CheckpointEveryEntries must be positive.");
        if (CheckpointOnStopMinEntries < 0) errors.Add("RaftKv:CheckpointOnStopMinEntries must not be negative (0 checkpoints at every stop).");
        return errors;
    }

    private static void CheckAddress(List<string> errors, string setting, string value, bool required)
    {
        if (value.Length == 0)
        {
            if (required) errors.Add($"{setting} must be set (e.g. http://127.0.0.1:7101).");
            return;
        }
        if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https"))
            errors.Add($"{setting} '{value}' is not an absolute http:// or https:// address.");
        else if (uri.IsDefaultPort && !value.Contains($":{uri.Port}", StringComparison.Ordinal))
            errors.Add($"{setting} '{value}' must name its port explicitly (e.g. http://127.0.0.1:7101).");
    }
}
