using RaftKv.Raft;

namespace RaftKv.StateMachine;

/// <summary>
/// The replicated state machine as the Raft driver sees it. The driver calls every member from one thread (the
/// apply loop), except <see cref="IStateMachineSnapshot.WriteTo"/>, which may run on a background thread while
/// the apply loop goes on.
/// </summary>
public interface IStateMachine : IDisposable
{
    /// <summary>The index of the last log entry reflected in this state. Invariant: never moves backwards except through <see cref="Restore"/>.</summary>
    ulong AppliedIndex { get; }

    /// <summary>
    /// Applies one committed entry (commands, no-ops and configuration entries all advance <see cref="AppliedIndex"/>)
    /// and returns the reply for the client that proposed it (empty for non-commands). Must be deterministic:
    /// every replica applying the same entries reaches the same state and the same replies.
    /// </summary>
    ReadOnlyMemory<byte> Apply(in LogEntry entry);

    /// <summary>Captures a point-in-time image at <see cref="AppliedIndex"/> cheaply; the bytes are produced later by <see cref="IStateMachineSnapshot.WriteTo"/>.</summary>
    IStateMachineSnapshot TakeSnapshot();

    /// <summary>Replaces the whole state with a snapshot's bytes; afterwards <see cref="AppliedIndex"/> is <paramref name="index"/>.</summary>
    void Restore(ulong index, Stream snapshot);
}

/// <summary>A captured state machine image that can be serialized off the apply thread.</summary>
public interface IStateMachineSnapshot : IDisposable
{
    ulong Index { get; }

    void WriteTo(Stream destination);
}

/// <summary>
/// The KV state machine as the node runtime drives and serves it: <see cref="FasterKvStateMachine"/> in a silo, the
/// in-memory twin <see cref="MemoryKvStateMachine"/> (with modelled checkpoints) in the deterministic simulator. Both
/// apply through <see cref="KvApply"/>, so they answer and snapshot alike.
/// </summary>
public interface IKvStateMachine : IStateMachine
{
    StateMachineOptions Options { get; }

    /// <summary>Live client sessions in the session table (a gauge).</summary>
    int SessionCount { get; }

    /// <summary>Bytes the store's log occupies (a gauge; 0 where there is no such log).</summary>
    long LogSizeBytes { get; }

    /// <summary>Reads a key from the applied state.</summary>
    KvEntry? Get(ReadOnlyMemory<byte> key);

    /// <summary>Up to <paramref name="limit"/> live keys starting with <paramref name="prefix"/>, in ascending byte order.</summary>
    IReadOnlyList<KvEntry> Scan(ReadOnlyMemory<byte> prefix, int limit);

    /// <summary>
    /// Starts a durable checkpoint of the state at the current <see cref="IStateMachine.AppliedIndex"/> (the cut is
    /// taken before this returns; the apply loop may go on at once) and completes once it is durable: a restart after
    /// that starts from it instead of replaying the log from the Raft snapshot.
    /// </summary>
    Task<CheckpointResult> CheckpointAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Reclaims the store's log space held by overwritten and deleted records, when they dominate it (see
    /// <see cref="FasterKvStateMachine.CompactLog"/>). Call it on a background thread; it leaves the state unchanged.
    /// </summary>
    LogCompactionResult CompactLog();
}
