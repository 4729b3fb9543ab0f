namespace RaftKv.Raft;

public enum ProposeOutcome : byte
{
    /// <summary>Appended to the leader's log at (Index, Term); it commits unless leadership is lost first.</summary>
    Accepted = 0,

    /// <summary>This node is not the leader; <see cref="ProposeResult.LeaderHint"/> names the leader if known (0 if not).</summary>
    NotLeader = 1,

    /// <summary>The leader refused: too many uncommitted entries, a configuration change in progress, or invalid.</summary>
    Dropped = 2,

    /// <summary>
    /// A leadership transfer is in progress (Raft thesis 3.10): the leader takes no new entries until it ends.
    /// <see cref="ProposeResult.LeaderHint"/> names the transfer target, the likely next leader; retry there.
    /// </summary>
    TransferringLeadership = 3,
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

public enum TransferLeadershipOutcome : byte
{
    /// <summary>The transfer is under way; the target campaigns once it has caught up. Watch the leader change.</summary>
    Started = 0,

    /// <summary>This node is not the leader; <see cref="TransferLeadershipResult.LeaderHint"/> names it if known.</summary>
    NotLeader = 1,

    /// <summary>The target is this node or not a voter, or a transfer to another node is in progress.</summary>
    Refused = 2,
}

/// <summary>The outcome of <see cref="RaftNode.TransferLeadership"/>.</summary>
public readonly record struct TransferLeadershipResult(TransferLeadershipOutcome Outcome, ulong LeaderHint, string? Reason = null);

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
    ClusterConfiguration Configuration)
{
    /// <summary>Leader only: the voter leadership is being transferred to (Raft thesis 3.10); 0 when none.</summary>
    public ulong LeadershipTransferTarget { get; init; }

    /// <summary>Whether the latest configuration in this node's log is not committed yet.</summary>
    public bool ConfigurationPending { get; init; }
}
