using RaftKv.Raft;

namespace RaftKv.Node;

/// <summary>
/// What a <see cref="RaftDriver"/> takes from its host besides options, storage, state machine and clock: where
/// background work runs, where its randomness comes from, how it completes callers' tasks, and an optional observer.
/// A silo uses the defaults; the deterministic simulator swaps each seam for a simulated one so that the same driver
/// code runs single-threaded in virtual time and a seed replays exactly.
/// </summary>
public sealed record RaftDriverSeams
{
    public static readonly RaftDriverSeams Default = new();

    /// <summary>Runs the driver's background work (writing a snapshot file): the thread pool in a silo, simulated events in the simulator.</summary>
    public IBackgroundScheduler Background { get; init; } = ThreadPoolBackgroundScheduler.Instance;

    /// <summary>
    /// Seeds the Raft core's election timers and the first read id of this incarnation. Null: drawn from the clock and
    /// <see cref="Random.Shared"/>. Read ids must never repeat across restarts of a node (a delayed answer to a read of
    /// an earlier incarnation would complete a new read), so a host that sets it must give every start its own seed.
    /// </summary>
    public ulong? RandomSeed { get; init; }

    /// <summary>
    /// False (the default): callers' tasks complete with <see cref="TaskCreationOptions.RunContinuationsAsynchronously"/>,
    /// so no caller's continuation ever runs on the driver thread. True: continuations run inline where the driver
    /// completes the task; only for a single-threaded host that runs <see cref="RaftDriver.RunOnce"/> itself (the
    /// simulator), where an admin call's async continuation must run on the simulator's thread, never the pool's.
    /// </summary>
    public bool CompleteCallersInline { get; init; }

    /// <summary>Adjusts the core's options (tests switch on injected bugs through it).</summary>
    public Func<RaftOptions, RaftOptions>? ConfigureRaft { get; init; }

    /// <summary>Told about every Ready, every persisted batch and every applied entry, on the driver thread (the simulator's checkers).</summary>
    public IRaftDriverObserver? Observer { get; init; }
}

/// <summary>Where a driver's background work runs.</summary>
public interface IBackgroundScheduler
{
    /// <summary>Runs <paramref name="work"/> later, off the driver's step; it reports back by posting to the driver.</summary>
    void Run(Action work);
}

/// <summary>Background work on the .NET thread pool (a silo).</summary>
public sealed class ThreadPoolBackgroundScheduler : IBackgroundScheduler
{
    public static readonly ThreadPoolBackgroundScheduler Instance = new();

    public void Run(Action work) => _ = Task.Run(work);
}

/// <summary>Sees the driver's Ready handling at the points where a simulator checks invariants; every call is on the driver's thread.</summary>
public interface IRaftDriverObserver
{
    /// <summary>A Ready was taken from the core and is about to be carried out.</summary>
    void OnReady(Ready ready);

    /// <summary>A hard state and entries are durable (one fsync). A commit-only hard state that was not written is not reported.</summary>
    void OnPersisted(HardState? hardState, IReadOnlyList<LogEntry> entries);

    /// <summary>A committed entry was applied to the state machine with this reply.</summary>
    void OnApplied(in LogEntry entry, ReadOnlyMemory<byte> reply);
}
