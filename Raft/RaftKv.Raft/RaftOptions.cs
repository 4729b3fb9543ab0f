namespace RaftKv.Raft;

/// <summary>Immutable options for one Raft node. Call <see cref="Validate"/> before use.</summary>
public sealed record RaftOptions
{
    /// <summary>This node's id; non-zero and unique in the cluster.</summary>
    public required ulong NodeId { get; init; }

    /// <summary>
    /// Base election timeout. Each election timer is drawn uniformly from
    /// [ElectionTimeoutTicks, 2 * ElectionTimeoutTicks) (Raft thesis 3.4).
    /// </summary>
    public int ElectionTimeoutTicks { get; init; } = 10;

    /// <summary>How often a leader sends heartbeats; must be well below the election timeout.</summary>
    public int HeartbeatIntervalTicks { get; init; } = 1;

    /// <summary>Seed of the PRNG that draws election timeouts. Different nodes need different seeds.</summary>
    public ulong RandomSeed { get; init; } = 1;

    /// <summary>Raft thesis 9.6: campaign only after a majority says it would vote for us.</summary>
    public bool PreVote { get; init; } = true;

    /// <summary>
    /// Raft thesis 6.2: a leader that has not heard from a majority within an election timeout steps down, and
    /// followers ignore vote requests while they believe a leader is alive.
    /// </summary>
    public bool CheckQuorum { get; init; } = true;

    /// <summary>Upper bound on the entry bytes in one AppendEntries message (at least one entry is always sent).</summary>
    public int MaxAppendBytes { get; init; } = 1 << 20;

    /// <summary>How many AppendEntries messages may be unacknowledged per follower in the Replicate state.</summary>
    public int MaxInflightMessages { get; init; } = 64;

    /// <summary>Upper bound on proposals accepted but not yet committed; further proposals are refused.</summary>
    public int MaxUncommittedEntries { get; init; } = 100_000;

    /// <summary>
    /// A learner more than this many entries behind the leader's last index cannot be promoted to voter (Raft thesis
    /// 4.2.1): promoting a server that cannot keep up could make the cluster unavailable.
    /// </summary>
    public int MaxPromotionLagEntries { get; init; } = 1_000;

    /// <summary>Test-only: deliberately breaks a rule so tests can prove the simulator's checkers catch it.</summary>
    internal InjectedBug InjectedBug { get; init; } = InjectedBug.None;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (NodeId == 0) errors.Add("NodeId must be non-zero (0 means 'nobody').");
        if (ElectionTimeoutTicks < 2) errors.Add("ElectionTimeoutTicks must be at least 2.");
        if (HeartbeatIntervalTicks < 1) errors.Add("HeartbeatIntervalTicks must be at least 1.");
        if (HeartbeatIntervalTicks >= ElectionTimeoutTicks) errors.Add("HeartbeatIntervalTicks must be below ElectionTimeoutTicks.");
        if (MaxAppendBytes < 1) errors.Add("MaxAppendBytes must be positive.");
        if (MaxInflightMessages < 1) errors.Add("MaxInflightMessages must be positive.");
        if (MaxUncommittedEntries < 1) errors.Add("MaxUncommittedEntries must be positive.");
        if (MaxPromotionLagEntries < 0) errors.Add("MaxPromotionLagEntries must not be negative.");
        return errors;
    }
}

/// <summary>Bugs the tests can switch on to show that the simulator's invariant checkers have teeth.</summary>
internal enum InjectedBug
{
    None = 0,

    /// <summary>Grant votes without the thesis 3.6.1 "candidate's log is at least as up-to-date" check.</summary>
    VoteWithoutUpToDateCheck = 1,

    /// <summary>Commit any entry replicated on a majority, ignoring the current-term rule (thesis 3.6.2, figure 3.7).</summary>
    CommitOldTermEntriesByCount = 2,

    /// <summary>Accept a configuration change while an earlier one is uncommitted (thesis 4.1 forbids it).</summary>
    OverlappingVoterChanges = 3,

    /// <summary>Serve ReadIndex with the commit index at once, without the heartbeat round that confirms leadership (thesis 6.4 forbids it).</summary>
    ReadIndexWithoutLeadershipConfirmation = 4,
}
