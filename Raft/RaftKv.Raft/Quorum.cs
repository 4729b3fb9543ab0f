namespace RaftKv.Raft;

/// <summary>The state of a vote (or any yes/no poll of the voters) once the answers so far are counted.</summary>
public enum VoteResult : byte
{
    /// <summary>Neither outcome is decided yet: enough voters have not answered.</summary>
    Pending = 0,

    /// <summary>Enough voters said no that a majority can no longer say yes.</summary>
    Lost = 1,

    /// <summary>A majority said yes.</summary>
    Won = 2,
}

/// <summary>
/// Majority arithmetic over one set of voters (Raft thesis 3.4, 3.6). This is the only place in the core that
/// counts votes, acknowledgements or match indices; everything else asks it.
/// </summary>
/// <remarks>
/// Invariant: <see cref="Voters"/> is sorted and duplicate-free. An empty voter set is a quorum of nothing: every
/// vote is won and every index is committed (<see cref="ulong.MaxValue"/>), which makes it the neutral element of
/// a <see cref="JointQuorum"/> (etcd-io/raft's convention).
/// </remarks>
public readonly struct MajorityQuorum
{
    private readonly ulong[]? _voters;

    public MajorityQuorum(IReadOnlyList<ulong> sortedVoters)
    {
        ArgumentNullException.ThrowIfNull(sortedVoters);
        _voters = [.. sortedVoters];
        for (int i = 1; i < _voters.Length; i++)
        {
            Invariant.Check(_voters[i - 1] < _voters[i], "quorum voters must be sorted and distinct");
        }
    }

    public IReadOnlyList<ulong> Voters => _voters ?? [];

    /// <summary>How many voters form a majority: more than half. 0 for an empty voter set.</summary>
    public int Size => _voters is null || _voters.Length == 0 ? 0 : _voters.Length / 2 + 1;

    public bool Contains(ulong id) => _voters is not null && Array.BinarySearch(_voters, id) >= 0;

    /// <summary>
    /// The highest index that a majority holds: the <see cref="Size"/>-th largest of the voters' indices, where
    /// <paramref name="indexOf"/> gives each voter's (0 when unknown). Raft thesis 3.6.2 additionally requires
    /// that the entry there be of the leader's term before it is committed; that check is the caller's.
    /// </summary>
    public ulong CommittedIndex(Func<ulong, ulong> indexOf)
    {
        ArgumentNullException.ThrowIfNull(indexOf);
        if (_voters is null || _voters.Length == 0) return ulong.MaxValue;
        Span<ulong> indices = _voters.Length <= 16 ? stackalloc ulong[_voters.Length] : new ulong[_voters.Length];
        for (int i = 0; i < _voters.Length; i++) indices[i] = indexOf(_voters[i]);
        indices.Sort();
        // Sorted ascending, the Size-th largest sits Size places from the end.
        return indices[_voters.Length - Size];
    }

    /// <summary>
    /// Counts a poll: <paramref name="voteOf"/> gives each voter's answer (true yes, false no, null not yet).
    /// Won once a majority said yes, lost once a majority can no longer say yes, pending otherwise.
    /// </summary>
    public VoteResult Tally(Func<ulong, bool?> voteOf)
    {
        ArgumentNullException.ThrowIfNull(voteOf);
        if (_voters is null || _voters.Length == 0) return VoteResult.Won;
        int granted = 0, missing = 0;
        foreach (ulong voter in _voters)
        {
            switch (voteOf(voter))
            {
                case true: granted++; break;
                case null: missing++; break;
            }
        }
        if (granted >= Size) return VoteResult.Won;
        if (granted + missing >= Size) return VoteResult.Pending;
        return VoteResult.Lost;
    }

    public override string ToString() => $"majority of [{string.Join(',', Voters)}]";
}

/// <summary>
/// The quorum rule of a configuration (Raft thesis 4.3): a decision needs a majority of the incoming voters and,
/// while a joint configuration is in force, also a majority of the outgoing voters. With no outgoing voters it is
/// plain majority. This implementation changes one voter at a time (thesis 4.1) and so never builds a joint
/// configuration itself, but every count in the core goes through this type so that joint consensus needs no
/// other change to the arithmetic.
/// </summary>
public readonly struct JointQuorum(MajorityQuorum incoming, MajorityQuorum outgoing)
{
    public JointQuorum(MajorityQuorum incoming) : this(incoming, default)
    {
    }

    public MajorityQuorum Incoming => incoming;

    public MajorityQuorum Outgoing => outgoing;

    public bool IsJoint => outgoing.Voters.Count > 0;

    /// <summary>Whether <paramref name="id"/> votes in either half.</summary>
    public bool Contains(ulong id) => incoming.Contains(id) || outgoing.Contains(id);

    /// <summary>The highest index held by a quorum of each half: the smaller of the two majorities' indices.</summary>
    public ulong CommittedIndex(Func<ulong, ulong> indexOf) =>
        Math.Min(incoming.CommittedIndex(indexOf), outgoing.CommittedIndex(indexOf));

    /// <summary>Won when both halves are won, lost when either is lost, pending otherwise.</summary>
    public VoteResult Tally(Func<ulong, bool?> voteOf)
    {
        VoteResult first = incoming.Tally(voteOf), second = outgoing.Tally(voteOf);
        if (first == VoteResult.Won && second == VoteResult.Won) return VoteResult.Won;
        if (first == VoteResult.Lost || second == VoteResult.Lost) return VoteResult.Lost;
        return VoteResult.Pending;
    }

    public override string ToString() => IsJoint ? $"joint({incoming}, {outgoing})" : incoming.ToString();
}
