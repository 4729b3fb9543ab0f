using RaftKv.Node;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Simulation;

/// <summary>
/// One simulated silo: its disk (which outlives crashes), the last durable FASTER checkpoint (modelled, see
/// <see cref="SimulatedKvStateMachine"/>), and while it is up one incarnation of the production node runtime, a
/// <see cref="RaftDriver"/> over the real <c>NodeStorage</c> on that disk and the in-memory KV twin, with the
/// simulation's clock, network and background work as its seams. Beside the driver it holds what the simulated
/// gateway and mesh wait for: client requests and snapshot chunks handed to the driver whose tasks have not
/// completed yet.
/// </summary>
internal sealed class SimulatedNode(ulong id, WalSimulatedStorage storage)
{
    public ulong Id => id;

    public int Index => (int)id - 1;

    public WalSimulatedStorage Storage => storage;

    public RaftDriver? Driver { get; private set; }

    /// <summary>The driver's core, for the checkers (read between steps only).</summary>
    public RaftNode? Raft => Driver?.Core;

    public MemoryKvStateMachine? StateMachine { get; private set; }

    public SimulatedClock? Clock { get; private set; }

    public int Incarnation { get; private set; }

    public bool IsUp => Driver is not null;

    /// <summary>The last completed FASTER checkpoint: survives crashes.</summary>
    public (ulong Index, byte[] Image)? DurableCheckpoint { get; set; }

    /// <summary>The term this node led when its last Ready was taken (0: it was not leading).</summary>
    public ulong LeadingTermAtLastReady { get; set; }

    /// <summary>Until then the driver is busy carrying out its last step (fsync takes simulated time): inputs queue.</summary>
    public long BusyUntilMs { get; set; }

    /// <summary>A step of this node is scheduled (at <see cref="BusyUntilMs"/>).</summary>
    public bool StepScheduled { get; set; }

    /// <summary>During a step: the file system's sync count when it began, and how long one fsync takes in it.</summary>
    public long SyncsAtStepStart { get; set; }

    public long FsyncDelayMs { get; set; }

    /// <summary>The (leader, term) this node saw after its last step, for the fail-fast checker.</summary>
    public (ulong Leader, ulong Term) LastLeadership { get; set; }

    /// <summary>Client requests handed to the driver: the request, the task, and for reads the highest commit index reached before it was asked.</summary>
    public List<(ClientRequest Request, Task Task, ulong CommittedBefore)> PendingRequests { get; } = [];

    /// <summary>Snapshot chunks handed to the driver, waiting for its receipt.</summary>
    public List<(Task<ChunkReceipt> Receipt, ChunkArrival Chunk)> PendingChunks { get; } = [];

    public bool IsCurrent(int incarnation) => IsUp && incarnation == Incarnation;

    public void Started(RaftDriver driver, MemoryKvStateMachine stateMachine, SimulatedClock clock)
    {
        Driver = driver;
        StateMachine = stateMachine;
        Clock = clock;
        LeadingTermAtLastReady = 0;
        BusyUntilMs = 0;
        LastLeadership = (driver.Core.Leader, driver.Core.Term);
    }

    public void BeginIncarnation() => Incarnation++;

    /// <summary>
    /// The process dies: its driver, clock and background work stop where they are (nothing of them runs again);
    /// the disk loses or tears whatever was not synced; clients waiting on this node hear nothing.
    /// </summary>
    public void Crash()
    {
        Clock?.Stop();
        Clock = null;
        Driver = null;
        StateMachine = null;
        PendingRequests.Clear();
        PendingChunks.Clear();
        storage.Crash();
        Incarnation++;
    }

    public string Describe() => IsUp
        ? $"node {id}: {Raft!.Role} t{Raft.Term} commit={Raft.Log.Committed} applied={StateMachine!.AppliedIndex} last={Raft.Log.LastIndex}"
        : $"node {id}: down";
}

/// <summary>A snapshot chunk on its way from a sender's transfer to a receiver.</summary>
internal sealed record ChunkArrival(ulong From, ulong To, long TransferId, Message Message, SnapshotChunk Chunk);
