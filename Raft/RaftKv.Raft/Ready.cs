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
/// confirmed and the read must fail; it must never be served from local state. A failed read names the leader
/// in <see cref="LeaderHint"/> when this node knows (or expects) one, 0 otherwise: retrying there is the fast path.
/// </summary>
public readonly record struct ReadState(ulong RequestId, ulong Index, bool Succeeded, ulong LeaderHint = 0);

/// <summary>
/// This node stopped leading <see cref="Term"/> (it stepped down, or was removed, or handed leadership over). Every
/// proposal it accepted in <see cref="Term"/> or earlier at an index above <see cref="Commit"/> now has an unknown
/// outcome: it may still commit under the next leader, or be overwritten. Entries at or below
/// <see cref="Commit"/> are committed and will be applied as usual. <see cref="LeaderHint"/> is the expected next
/// leader (the transfer target, or the node whose message deposed us), 0 if unknown.
/// </summary>
public readonly record struct LeadershipLoss(ulong Term, ulong Commit, ulong LeaderHint);

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
/// Failing fast when leadership changes (the core tells; the driver answers its callers at once, never after a
/// timeout): a read that can no longer be confirmed arrives as a failed <see cref="ReadStates"/> entry in the
/// first Ready after the change - on a leader that stepped down, and on a follower whose forwarded read's leader
/// or term changed (or that had no answer within two election timeouts). Proposals in flight on a leader that lost
/// leadership are described by <see cref="LeadershipLoss"/>: the driver fails each waiting proposal of that term or
/// earlier above its commit index with a retryable error (retry with the same session sequence number) naming
/// <see cref="Raft.LeadershipLoss.LeaderHint"/>, or the leader in <see cref="SoftState"/> when that is newer.
/// The term condition keeps a proposal re-accepted at the same index after regaining leadership within one Ready.
/// Handling it after applying <see cref="CommittedEntries"/> is kinder: a proposal that committed meanwhile gets
/// its real reply instead of a retry.
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

    /// <summary>Set when this node stopped being leader since the previous Ready (the latest such loss).</summary>
    public LeadershipLoss? LeadershipLoss { get; init; }

    public bool IsEmpty =>
        SoftState is null && HardState is null && Snapshot is null && Entries.Count == 0 && Messages.Count == 0 &&
        MessagesAfterPersist.Count == 0 && CommittedEntries.Count == 0 && ReadStates.Count == 0 &&
        LeadershipLoss is null;
}
