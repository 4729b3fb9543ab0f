namespace RaftKv.Raft;

public enum ProposeOutcome : byte
{
    /// <summary>Appended to the leader's log at (Index, Term); it commits unless leadership is lost first.</summary>
    Accepted = 0,

    /// <summary>This node is not the leader; <see cref="ProposeResult.LeaderHint"/> names the leader if known (0 if not).</summary>
    NotLeader = 1,

    /// <summary>The leader refused: too many uncommitted entries, a configuration change in progress, or invalid.</summary>
    Dropped = 2,
}

/// <summary>
/// The outcome of a proposal. An accepted entry is known to have committed when an entry with the same
/// (Index, Term) is applied; if a different term shows up at that index, the proposal was lost.
/// </summary>
public readonly record struct ProposeResult(ProposeOutcome Outcome, ulong Index, ulong Term, ulong LeaderHint, string? Reason = null)
{
    public bool IsAccepted => Outcome == ProposeOutcome.Accepted;
}

public enum ReadIndexOutcome : byte
{
    /// <summary>The read is registered; a <see cref="ReadState"/> with its id will follow (success or failure).</summary>
    Pending = 0,

    /// <summary>No leader is known: the read cannot be served now.</summary>
    NoLeader = 1,
}

/// <summary>A read-only view of a node's state for status reports and tests.</summary>
public sealed record RaftStatus(
    ulong NodeId,
    RaftRole Role,
    ulong Term,
    ulong Leader,
    ulong Vote,
    ulong CommitIndex,
    ulong AppliedIndex,
    ulong LastIndex,
    ulong SnapshotIndex,
    ClusterConfiguration Configuration);
