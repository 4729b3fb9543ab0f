using FsCheck;
using FsCheck.Fluent;
using RaftKv.Raft;

namespace RaftKv.Raft.Tests;

/// <summary>
/// The quorum arithmetic against naive oracles that enumerate subsets (etcd-io/raft's quorum/quick_test.go). The
/// oracles use only the definition "a quorum is more than half of the voters" (of each half, when joint); they
/// never sort or count the way <see cref="MajorityQuorum"/> does.
/// </summary>
public sealed class QuorumTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(2_000);

    [Fact]
    public void Committed_index_is_the_highest_index_some_quorum_holds()
    {
        Check.One(Many, Prop.ForAll<byte, byte, ulong[]>((incomingMask, outgoingMask, raw) =>
        {
            JointQuorum quorum = Joint(incomingMask, outgoingMask);
            Func<ulong, ulong> indexOf = id => raw.Length == 0 ? 0 : raw[(int)id % raw.Length] % 7;
            return quorum.CommittedIndex(indexOf) == OracleCommittedIndex(quorum, indexOf);
        }));
    }

    [Fact]
    public void A_vote_is_won_lost_or_pending_exactly_as_the_enumerated_outcomes_say()
    {
        Check.One(Many, Prop.ForAll<byte, byte, byte[]>((incomingMask, outgoingMask, raw) =>
        {
            JointQuorum quorum = Joint(incomingMask, outgoingMask);
            Func<ulong, bool?> voteOf = id => (raw.Length == 0 ? 2 : raw[(int)id % raw.Length] % 3) switch
            {
                0 => true,
                1 => false,
                _ => null,
            };
            return quorum.Tally(voteOf) == OracleTally(quorum, voteOf);
        }));
    }

    [Fact]
    public void Any_two_quorums_of_one_configuration_intersect()
    {
        // The property Raft's safety rests on (thesis 3.6.3), checked over every pair of subsets of 1-6 voters.
        for (int mask = 1; mask < 64; mask++)
        {
            var quorum = new MajorityQuorum(Members((byte)mask));
            var subsets = Subsets(quorum.Voters).Where(s => IsQuorum(quorum, s)).ToList();
            foreach (var a in subsets)
            {
                foreach (var b in subsets) Assert.True(a.Intersect(b).Any(), $"{quorum}: [{string.Join(',', a)}] and [{string.Join(',', b)}]");
            }
        }
    }

    [Fact]
    public void Single_voter_changes_keep_old_and_new_majorities_overlapping()
    {
        // Raft thesis 4.1: adding or removing one voter cannot create two disjoint majorities, which is why
        // changes go one voter at a time; two changes at once can (the bug the simulator is shown to catch).
        for (int mask = 1; mask < 64; mask++)
        {
            var old = new MajorityQuorum(Members((byte)mask));
            for (ulong changed = 1; changed <= 7; changed++)
            {
                var voters = old.Contains(changed) ? old.Voters.Where(v => v != changed) : old.Voters.Append(changed).Order();
                if (!voters.Any()) continue;
                var next = new MajorityQuorum([.. voters]);
                var all = old.Voters.Union(next.Voters).Order().ToArray();
                foreach (var a in Subsets(all).Where(s => IsQuorum(old, s)))
                {
                    foreach (var b in Subsets(all).Where(s => IsQuorum(next, s))) Assert.True(a.Intersect(b).Any());
                }
            }
        }
        var three = new MajorityQuorum([1, 2, 3]);
        var twoAdded = new MajorityQuorum([1, 2, 3, 4, 5]);
        Assert.True(IsQuorum(three, [1, 2]) && IsQuorum(twoAdded, [3, 4, 5])); // disjoint: two changes at once are unsafe
    }

    [Fact]
    public void An_empty_half_is_neutral()
    {
        var empty = new MajorityQuorum([]);
        Assert.Equal(ulong.MaxValue, empty.CommittedIndex(_ => 0));
        Assert.Equal(VoteResult.Won, empty.Tally(_ => null));
        var plain = new JointQuorum(new MajorityQuorum([1, 2, 3]));
        Assert.False(plain.IsJoint);
        Assert.Equal(5UL, plain.CommittedIndex(id => id == 3 ? 1UL : 5UL));
    }

    [Fact]
    public void The_configuration_counts_only_voters()
    {
        var configuration = new ClusterConfiguration([1, 2, 3], [4, 5]);
        Assert.Equal(2, configuration.QuorumSize);
        Assert.False(configuration.Quorum.Contains(4));
        Assert.Equal(VoteResult.Lost, configuration.Quorum.Tally(id => id >= 3));
        Assert.Equal(VoteResult.Pending, configuration.Quorum.Tally(id => id == 1 ? true : id == 2 ? false : null));
    }

    // ---- the naive oracle -------------------------------------------------------------------------------------

    /// <summary>Voters among ids 1-8 by bit mask; the outgoing half exists only when its top bit is set (half the cases).</summary>
    private static JointQuorum Joint(byte incomingMask, byte outgoingMask) =>
        new(new MajorityQuorum(Members(incomingMask)), new MajorityQuorum((outgoingMask & 0x80) != 0 ? Members((byte)(outgoingMask & 0x7F)) : []));

    private static ulong[] Members(byte mask) => [.. Enumerable.Range(1, 8).Where(i => (mask & (1 << (i - 1))) != 0).Select(i => (ulong)i)];

    private static bool IsQuorum(MajorityQuorum half, IReadOnlyCollection<ulong> set) =>
        half.Voters.Count == 0 || 2 * half.Voters.Count(set.Contains) > half.Voters.Count;

    private static bool IsQuorum(JointQuorum quorum, IReadOnlyCollection<ulong> set) =>
        IsQuorum(quorum.Incoming, set) && IsQuorum(quorum.Outgoing, set);

    private static IEnumerable<ulong[]> Subsets(IReadOnlyList<ulong> members)
    {
        for (int mask = 0; mask < 1 << members.Count; mask++)
        {
            yield return [.. members.Where((_, i) => (mask & (1 << i)) != 0)];
        }
    }

    private static ulong[] AllVoters(JointQuorum quorum) => [.. quorum.Incoming.Voters.Union(quorum.Outgoing.Voters).Order()];

    /// <summary>The largest index i such that the voters holding i or more form a quorum, found by trying every subset.</summary>
    private static ulong OracleCommittedIndex(JointQuorum quorum, Func<ulong, ulong> indexOf)
    {
        ulong[] voters = AllVoters(quorum);
        if (voters.Length == 0) return ulong.MaxValue;
        ulong best = 0;
        foreach (ulong[] subset in Subsets(voters).Where(s => s.Length > 0 && IsQuorum(quorum, s)))
        {
            best = Math.Max(best, subset.Min(indexOf));
        }
        return best;
    }

    /// <summary>Won if the yes-voters are a quorum; lost if no way of answering for the missing voters makes them one.</summary>
    private static VoteResult OracleTally(JointQuorum quorum, Func<ulong, bool?> voteOf)
    {
        ulong[] voters = AllVoters(quorum);
        if (IsQuorum(quorum, voters.Where(v => voteOf(v) == true).ToArray())) return VoteResult.Won;
        ulong[] missing = [.. voters.Where(v => voteOf(v) is null)];
        foreach (ulong[] yes in Subsets(missing))
        {
            if (IsQuorum(quorum, voters.Where(v => voteOf(v) == true || yes.Contains(v)).ToArray())) return VoteResult.Pending;
        }
        return VoteResult.Lost;
    }
}
