namespace RaftKv.Raft;

/// <summary>The role a node plays in its current term.</summary>
public enum RaftRole : byte
{
    Follower = 0,
    PreCandidate = 1,
    Candidate = 2,
    Leader = 3,
}

/// <summary>Volatile state worth reporting (logging, status, client routing); never persisted.</summary>
public readonly record struct SoftState(RaftRole Role, ulong Leader, ulong Term);

/// <summary>
/// The outcome of a ReadIndex request (Raft thesis 6.4). When <see cref="Succeeded"/> is true, the read may be
/// served once the local state machine has applied <see cref="Index"/>. When false, leadership could not be
/// confirmed and the read must fail; it must never be served from local state.
/// </summary>
public readonly record struct ReadState(ulong RequestId, ulong Index, bool Succeeded);

/// <summary>
/// Everything the core wants done, produced by <see cref="RaftNode.GetReady"/>. The driver must, in this order:
/// <list type="number">
/// <item>send <see cref="Messages"/> at any time (they depend on nothing unpersisted: thesis 10.2.1 lets a leader
///   replicate while its own append is in flight);</item>
/// <item>if <see cref="Snapshot"/> is set, install the staged snapshot into the state machine and persist it;</item>
/// <item>persist <see cref="HardState"/> (if set) and append <see cref="Entries"/>, first discarding any stored
///   entries at or after <c>Entries[0].Index</c>, and make both durable (fsync) with one sync for the batch;</item>
/// <item>only then send <see cref="MessagesAfterPersist"/>: votes and acknowledgements that promise the state
///   above is durable. Sending them earlier can elect two leaders or lose committed entries after a crash;</item>
/// <item>apply <see cref="CommittedEntries"/> in order, serve <see cref="ReadStates"/> once applied;</item>
/// <item>call <see cref="RaftNode.Advance"/> with this Ready.</item>
/// </list>
/// </summary>
public sealed class Ready
{
    /// <summary>Set when role, leader or term changed since the previous Ready.</summary>
    public SoftState? SoftState { get; init; }

    /// <summary>Set when term, vote or commit changed since the last persisted hard state.</summary>
    public HardState? HardState { get; init; }

    /// <summary>A snapshot received from the leader that replaces the state machine and the log through its index.</summary>
    public SnapshotMetadata? Snapshot { get; init; }

    /// <summary>Entries to append to stable storage; they may overwrite a conflicting stored suffix.</summary>
    public IReadOnlyList<LogEntry> Entries { get; init; } = [];

    /// <summary>Messages that may leave immediately.</summary>
    public IReadOnlyList<Message> Messages { get; init; } = [];

    /// <summary>Messages that may leave only after <see cref="HardState"/>, <see cref="Entries"/> and <see cref="Snapshot"/> are durable.</summary>
    public IReadOnlyList<Message> MessagesAfterPersist { get; init; } = [];

    /// <summary>Committed, durable entries to apply to the state machine, in index order.</summary>
    public IReadOnlyList<LogEntry> CommittedEntries { get; init; } = [];

    /// <summary>ReadIndex outcomes that became known.</summary>
    public IReadOnlyList<ReadState> ReadStates { get; init; } = [];

    public bool IsEmpty =>
        SoftState is null && HardState is null && Snapshot is null && Entries.Count == 0 && Messages.Count == 0 &&
        MessagesAfterPersist.Count == 0 && CommittedEntries.Count == 0 && ReadStates.Count == 0;
}
