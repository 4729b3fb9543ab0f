namespace RaftKv.Raft;

/// <summary>
/// Membership changes (Raft thesis chapter 4), one server at a time. A new server joins as a learner: it receives
/// the log (or a snapshot) but neither votes nor counts towards a quorum, so catching it up cannot stall commits
/// (thesis 4.2.1). Once it is close enough it is promoted to voter. Each change is one configuration entry that
/// takes effect on every server as soon as it is appended (thesis 4.1), and a leader proposes at most one at a
/// time: a change is refused while the previous one is uncommitted. Every method here returns a result value;
/// the change has happened once an entry with the returned (Index, Term) is applied.
/// </summary>
public sealed partial class RaftNode
{
    /// <summary>Adds <paramref name="id"/> as a learner: it is sent the log but does not vote.</summary>
    public ProposeResult AddLearner(ulong id)
    {
        if (id == 0) return Refused("node id 0 means 'nobody'");
        if (Configuration.IsMember(id)) return Refused($"node {id} is already a member ({Configuration})");
        return ProposeConfiguration(new ClusterConfiguration(Configuration.Voters, Configuration.Learners.Append(id)));
    }

    /// <summary>
    /// Makes learner <paramref name="id"/> a voter. Refused while it is more than
    /// <see cref="RaftOptions.MaxPromotionLagEntries"/> entries behind this leader's log: a voter that cannot keep
    /// up would count towards quorums it cannot help form, and could leave the cluster unavailable (thesis 4.2.1).
    /// </summary>
    public ProposeResult PromoteLearner(ulong id)
    {
        if (Role != RaftRole.Leader) return new ProposeResult(ProposeOutcome.NotLeader, 0, 0, Leader);
        if (!Configuration.IsLearner(id)) return Refused($"node {id} is not a learner ({Configuration})");
        ulong match = _progress.TryGetValue(id, out Progress? progress) ? progress.Match : 0;
        ulong lag = _log.LastIndex - Math.Min(match, _log.LastIndex);
        if (lag > (ulong)_options.MaxPromotionLagEntries)
        {
            return Refused($"learner {id} is {lag} entries behind, more than MaxPromotionLagEntries={_options.MaxPromotionLagEntries}");
        }
        return ProposeConfiguration(new ClusterConfiguration(Configuration.Voters.Append(id), Configuration.Learners.Where(l => l != id)));
    }

    /// <summary>
    /// Removes voter or learner <paramref name="id"/>, which may be this leader: it then keeps leading until the
    /// removal commits (without counting itself) and steps down (thesis 4.2.2).
    /// </summary>
    public ProposeResult RemoveMember(ulong id)
    {
        if (!Configuration.IsMember(id)) return Refused($"node {id} is not a member ({Configuration})");
        return ProposeConfiguration(new ClusterConfiguration(Configuration.Voters.Where(v => v != id), Configuration.Learners.Where(l => l != id)));
    }

    /// <summary>
    /// Proposes a whole new configuration (Raft thesis 4.1: at most one voter added or removed; learners freely).
    /// Refused while an earlier configuration change is uncommitted, before this leader has committed an entry of
    /// its own term, and during a leadership transfer.
    /// </summary>
    public ProposeResult ProposeConfiguration(ClusterConfiguration next)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (Role != RaftRole.Leader) return new ProposeResult(ProposeOutcome.NotLeader, 0, 0, Leader);
        if (!_committedInCurrentTerm)
        {
            // Ongaro's 2015 correction to single-server changes: a leader may change the configuration only after
            // committing an entry of its own term, or a configuration from an earlier, uncommitted term can come
            // back and overwrite committed entries.
            return Refused("no entry of the current term is committed yet");
        }
        if (HasUncommittedConfiguration && _options.InjectedBug != InjectedBug.OverlappingVoterChanges)
        {
            return Refused("an earlier configuration change is not committed yet");
        }
        int votersChanged = Configuration.Voters.Except(next.Voters).Count() + next.Voters.Except(Configuration.Voters).Count();
        if (votersChanged > 1) return Refused("change one voter at a time");
        if (next.Voters.Count == 0) return Refused("a configuration needs at least one voter");
        if (next.Equals(Configuration)) return Refused("the configuration would not change");
        return ProposeEntry(EntryType.Configuration, next.Encode());
    }

    /// <summary>
    /// Leader only: whether an entry of the current term has committed, without which no configuration change is
    /// accepted (Ongaro's 2015 correction). A driver uses it to tell a short wait from a refusal.
    /// </summary>
    public bool HasCommittedInCurrentTerm => Role == RaftRole.Leader && _committedInCurrentTerm;

    /// <summary>The latest configuration at or below this node's commit index.</summary>
    public ClusterConfiguration CommittedConfiguration => _configurationHistory.Last(c => c.Index <= _log.Committed).Configuration;

    /// <summary>
    /// Whether this node's election timer may start a campaign: it is a voter in its latest configuration, or its
    /// removal is not committed yet and it was a voter before it (thesis 4.2.2). Votes are always counted in the
    /// latest configuration, so the second case only lets it finish its own removal: a leader that removed itself
    /// from two voters and lost leadership before the other voter got the entry holds the most up-to-date log, so
    /// the other cannot win without its vote, and it must be able to win with the other's (and then step down once
    /// the removal commits). Without this no one could ever lead again (found by the simulator). Once the removal is
    /// committed it never campaigns (thesis 4.2.3).
    /// </summary>
    public bool MayCampaign => IsVoter || (HasUncommittedConfiguration && CommittedConfiguration.IsVoter(Id));

    /// <summary>Whether the latest configuration in the log is not committed yet (thesis 4.1: at most one may be).</summary>
    public bool HasUncommittedConfiguration => _configurationHistory[^1].Index > _log.Committed;

    private ProposeResult Refused(string reason) => Role == RaftRole.Leader
        ? new ProposeResult(ProposeOutcome.Dropped, 0, 0, Id, reason)
        : new ProposeResult(ProposeOutcome.NotLeader, 0, 0, Leader);
}
