using RaftKv.Raft;

namespace RaftKv.Simulation;

/// <summary>A bug the simulator can switch on in every node, to prove its checkers catch it.</summary>
public enum SimulatedBug
{
    None = 0,
    VoteWithoutUpToDateCheck = 1,
    CommitOldTermEntriesByCount = 2,

    /// <summary>The leader accepts a configuration change while an earlier one is uncommitted.</summary>
    OverlappingVoterChanges = 3,

    /// <summary>The leader answers ReadIndex with its commit index at once, without a heartbeat round confirming it still leads.</summary>
    ReadIndexWithoutLeadershipConfirmation = 4,

    /// <summary>The state machine executes a retry of a session's last sequence number again instead of answering from the session table.</summary>
    ApplyRetriedCommandTwice = 5,

    /// <summary>The driver keeps proposals and unconfirmed reads waiting when its node loses (or sees a change of) leadership, instead of failing them at once.</summary>
    KeepRequestsOnLeadershipLoss = 6,
}

/// <summary>
/// One simulated run: cluster shape, fault rates and phase lengths, all in simulated milliseconds. Every value is
/// derived from <see cref="Seed"/> by <see cref="Swarm"/> so that a seed alone replays a run.
/// </summary>
public sealed record SimulationOptions
{
    public ulong Seed { get; init; } = 1;
    public int NodeCount { get; init; } = 3;
    public int TickIntervalMs { get; init; } = 10;
    public int ElectionTimeoutTicks { get; init; } = 10;
    public int HeartbeatIntervalTicks { get; init; } = 2;
    public int MaxAppendBytes { get; init; } = 4096;
    public int MaxInflightMessages { get; init; } = 16;

    public int MinLatencyMs { get; init; } = 1;
    public int MaxLatencyMs { get; init; } = 10;
    public double DropRate { get; init; }
    public double DuplicateRate { get; init; }
    public int MaxFsyncDelayMs { get; init; } = 2;

    /// <summary>Mean time between partition changes during the safety phase (0: never).</summary>
    public int MeanPartitionIntervalMs { get; init; }

    /// <summary>Mean time between crashes during the safety phase (0: never).</summary>
    public int MeanCrashIntervalMs { get; init; }
    public int MaxDowntimeMs { get; init; } = 1000;

    /// <summary>Take a snapshot and compact once the uncompacted log exceeds this many bytes (0: never).</summary>
    public int SnapshotThresholdBytes { get; init; }

    /// <summary>WAL storage only: the chance that one write stores a prefix and fails (fail-stop for the node).</summary>
    public double ShortWriteProbability { get; init; }

    /// <summary>WAL storage only: segment size; small segments exercise rolling and whole-segment deletion.</summary>
    public long SegmentSizeBytes { get; init; } = 4096;

    /// <summary>How often each client considers starting its next operation (and retries one that timed out).</summary>
    public int ProposalIntervalMs { get; init; } = 20;

    /// <summary>Client operations (writes and reads, all clients together) started during the safety phase.</summary>
    public int MaxCommands { get; init; } = 200;

    /// <summary>Bytes added to each written value, to make entries (and the log) larger.</summary>
    public int CommandPaddingBytes { get; init; } = 8;

    /// <summary>Client processes, each with one client session and at most one operation in flight.</summary>
    public int ClientCount { get; init; } = 1;

    /// <summary>Keys the clients write and read: few keys, many conflicting CAS and reads per key.</summary>
    public int KeyCount { get; init; } = 4;

    /// <summary>Chance that a client's request, or the node's reply, is lost (the client retries with the same sequence number).</summary>
    public double ClientMessageDropRate { get; init; }

    /// <summary>A client that has no reply after this long retries (the same sequence number for a write), on another node.</summary>
    public int ClientTimeoutMs { get; init; } = 300;

    /// <summary>Of the reads, the share asked as stale (local, unconfirmed) reads; those are not linearizable and are not checked as such.</summary>
    public double StaleReadShare { get; init; }

    /// <summary>Client sessions expire after this much log time without a command (the state machine's rule).</summary>
    public long SessionTimeoutMs { get; init; } = 60_000;

    /// <summary>WAL storage only: InstallSnapshot travels in chunks of this many bytes (the real chunker and receiver); lost chunks and receipts break the transfer, which resumes.</summary>
    public int SnapshotChunkBytes { get; init; } = 256;

    /// <summary>FASTER checkpoint policy: a checkpoint starts after this many applied entries (it becomes durable some time later).</summary>
    public int CheckpointEveryEntries { get; init; } = 50;
    public int SafetyPhaseMs { get; init; } = 5_000;
    public int LivenessDeadlineMs { get; init; } = 30_000;

    /// <summary>Storage under each node: an in-memory log, or the real WAL over a fault-injecting file system.</summary>
    public SimulatedStorageKind Storage { get; init; } = SimulatedStorageKind.Memory;

    public SimulatedBug Bug { get; init; }

    /// <summary>
    /// Mean time between membership changes during the safety phase (0: never): add a learner, promote one,
    /// remove a follower or the leader itself, or transfer leadership. Removed nodes are left running.
    /// </summary>
    public int MeanMembershipChangeIntervalMs { get; init; }

    /// <summary>Nodes started outside the initial configuration, for the membership churn to add (ids after the voters).</summary>
    public int SpareNodeCount { get; init; }

    /// <summary>A learner this many entries behind cannot be promoted (<see cref="RaftOptions.MaxPromotionLagEntries"/>).</summary>
    public int MaxPromotionLagEntries { get; init; } = 1_000;

    /// <summary>Share of client operations that are reads (linearizable through ReadIndex on a random node, or stale; see <see cref="StaleReadShare"/>).</summary>
    public double ReadProbability { get; init; }

    /// <summary>Swarm testing: each seed draws its own cluster size and fault mix, so faults combine in many ways.</summary>
    public static SimulationOptions Swarm(ulong seed, SimulatedBug bug = SimulatedBug.None, SimulatedStorageKind storage = SimulatedStorageKind.Memory)
    {
        var random = new DeterministicRandom(seed * 0x2545F4914F6CDD1DUL + 7);
        return new SimulationOptions
        {
            Seed = seed,
            NodeCount = random.Chance(0.5) ? 3 : 5,
            MaxLatencyMs = random.Next(1, 40),
            DropRate = random.Chance(0.3) ? 0 : random.NextDouble() * 0.2,
            DuplicateRate = random.Chance(0.5) ? 0 : random.NextDouble() * 0.1,
            MaxFsyncDelayMs = random.Next(0, 6),
            MeanPartitionIntervalMs = random.Chance(0.2) ? 0 : random.Next(200, 2000),
            MeanCrashIntervalMs = random.Chance(0.2) ? 0 : random.Next(300, 3000),
            MaxDowntimeMs = random.Next(50, 2000),
            SnapshotThresholdBytes = random.Chance(0.3) ? 0 : random.Next(400, 4000),
            ShortWriteProbability = random.Chance(0.5) ? 0 : random.NextDouble() * 0.01,
            SegmentSizeBytes = random.Next(1024, 16384),
            ProposalIntervalMs = random.Next(2, 40),
            MaxInflightMessages = random.Next(1, 32),
            MaxAppendBytes = random.Next(64, 8192),
            Storage = storage,
            Bug = bug,
            // Drawn last so that the earlier draws, and so the fault mix of every seed, are what they were before.
            MeanMembershipChangeIntervalMs = random.Chance(0.3) ? 0 : random.Next(150, 1500),
            SpareNodeCount = random.Next(1, 3),
            MaxPromotionLagEntries = random.Chance(0.5) ? 1_000 : random.Next(0, 20),
            ReadProbability = random.Chance(0.3) ? 0 : random.NextDouble() * 0.5,
            ClientCount = random.Next(1, 5),
            KeyCount = random.Next(1, 5),
            ClientMessageDropRate = random.Chance(0.3) ? 0 : random.NextDouble() * 0.2,
            ClientTimeoutMs = random.Next(100, 600),
            StaleReadShare = random.Chance(0.5) ? 0 : random.NextDouble() * 0.3,
            SessionTimeoutMs = random.Chance(0.7) ? 60_000 : random.Next(300, 3000),
            CheckpointEveryEntries = random.Next(5, 200),
            SnapshotChunkBytes = random.Next(32, 1024),
        };
    }

    public override string ToString() =>
        $"nodes={NodeCount} latency={MinLatencyMs}-{MaxLatencyMs}ms drop={DropRate:F2} dup={DuplicateRate:F2} " +
        $"partitionEvery={MeanPartitionIntervalMs}ms crashEvery={MeanCrashIntervalMs}ms snapshotAt={SnapshotThresholdBytes}B shortWrites={ShortWriteProbability:F3} " +
        $"churnEvery={MeanMembershipChangeIntervalMs}ms spares={SpareNodeCount} reads={ReadProbability:F2} stale={StaleReadShare:F2} clients={ClientCount} keys={KeyCount} " +
        $"clientDrop={ClientMessageDropRate:F2} sessionTimeout={SessionTimeoutMs}ms checkpointEvery={CheckpointEveryEntries} chunk={SnapshotChunkBytes}B storage={Storage} bug={Bug}";
}
