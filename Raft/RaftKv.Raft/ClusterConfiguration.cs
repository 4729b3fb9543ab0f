using System.Buffers.Binary;

namespace RaftKv.Raft;

/// <summary>
/// The members of the cluster: voters decide elections and commitment; learners receive the log but never vote
/// and never count towards a quorum. Node ids are non-zero; 0 means "nobody".
/// </summary>
/// <remarks>Invariant: both lists are sorted, duplicate-free, and disjoint.</remarks>
public sealed class ClusterConfiguration : IEquatable<ClusterConfiguration>
{
    public ClusterConfiguration(IEnumerable<ulong> voters, IEnumerable<ulong>? learners = null)
    {
        Voters = voters.Distinct().Order().ToArray();
        Learners = (learners ?? []).Distinct().Order().ToArray();
        Invariant.Check(Voters.All(v => v != 0) && Learners.All(l => l != 0), "node id 0 is reserved for 'nobody'");
        Invariant.Check(!Voters.Intersect(Learners).Any(), "a node cannot be both voter and learner");
        Quorum = new JointQuorum(new MajorityQuorum(Voters));
    }

    public IReadOnlyList<ulong> Voters { get; }

    public IReadOnlyList<ulong> Learners { get; }

    /// <summary>Voters then learners, each sorted: a deterministic iteration order.</summary>
    public IEnumerable<ulong> AllMembers => Voters.Concat(Learners);

    /// <summary>Who must agree for an election, a commit or a ReadIndex round to succeed (Raft thesis 3.4, 3.6, 4.1).</summary>
    public JointQuorum Quorum { get; }

    /// <summary>The number of voters whose agreement forms a majority.</summary>
    public int QuorumSize => Quorum.Incoming.Size;

    public bool IsVoter(ulong id) => BinarySearch(Voters, id);

    public bool IsLearner(ulong id) => BinarySearch(Learners, id);

    public bool IsMember(ulong id) => IsVoter(id) || IsLearner(id);

    /// <summary>Encodes as [voterCount u32][learnerCount u32][ids u64...], little-endian.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[8 + 8 * (Voters.Count + Learners.Count)];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)Voters.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)Learners.Count);
        int offset = 8;
        foreach (ulong id in AllMembers)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offset), id);
            offset += 8;
        }
        return bytes;
    }

    /// <summary>Decodes <see cref="Encode"/>'s layout.</summary>
    /// <exception cref="FormatException">The length does not match the counts, or an id is 0 or appears twice.</exception>
    public static ClusterConfiguration Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8)
        {
            throw new FormatException("cluster configuration is shorter than its 8-byte header");
        }
        uint voters = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        uint learners = BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]);
        if ((ulong)bytes.Length != 8 + 8 * ((ulong)voters + learners))
        {
            throw new FormatException("cluster configuration length does not match its member counts");
        }
        var ids = new ulong[voters + learners];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(8 + 8 * i)..]);
        }
        // The bytes come from disk or a peer: what the constructor asserts as an invariant is a format error here.
        ulong[] sorted = [.. ids];
        Array.Sort(sorted);
        for (int i = 0; i < sorted.Length; i++)
        {
            if (sorted[i] == 0)
            {
                throw new FormatException("cluster configuration names node id 0, which is reserved for 'nobody'");
            }
            if (i > 0 && sorted[i] == sorted[i - 1])
            {
                throw new FormatException($"cluster configuration names node {sorted[i]} twice");
            }
        }
        return new ClusterConfiguration(ids.Take((int)voters), ids.Skip((int)voters));
    }

    public bool Equals(ClusterConfiguration? other) =>
        other is not null && Voters.SequenceEqual(other.Voters) && Learners.SequenceEqual(other.Learners);

    public override bool Equals(object? obj) => Equals(obj as ClusterConfiguration);

    public override int GetHashCode() => HashCode.Combine(Voters.Count, Learners.Count, Voters.FirstOrDefault());

    public override string ToString() =>
        $"voters=[{string.Join(',', Voters)}]" + (Learners.Count > 0 ? $" learners=[{string.Join(',', Learners)}]" : "");

    private static bool BinarySearch(IReadOnlyList<ulong> sorted, ulong id)
    {
        int lo = 0, hi = sorted.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] == id) return true;
            if (sorted[mid] < id) lo = mid + 1; else hi = mid - 1;
        }
        return false;
    }
}
