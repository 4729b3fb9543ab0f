using System.Globalization;
using System.Text;
using RaftKv.Raft;

namespace RaftKv.Node;

/// <summary>One member of the configuration with the addresses this node knows for it (empty when unknown).</summary>
public sealed record RaftMember(ulong Id, bool IsVoter, string PeerAddress, string ClientAddress);

/// <summary>
/// The cluster's configuration as one node sees it: voters and learners with their addresses, and the leader.
/// <see cref="Pending"/> is true while the latest configuration in this node's log is not committed yet.
/// </summary>
public sealed record ClusterMembership(ulong NodeId, ulong LeaderId, ulong Term, bool Pending, IReadOnlyList<RaftMember> Members)
{
    public IEnumerable<RaftMember> Voters => Members.Where(m => m.IsVoter);

    public IEnumerable<RaftMember> Learners => Members.Where(m => !m.IsVoter);

    public override string ToString() =>
        $"voters=[{string.Join(',', Voters.Select(m => m.Id))}] learners=[{string.Join(',', Learners.Select(m => m.Id))}] leader={LeaderId} term={Term}" +
        (Pending ? " (change pending)" : "");
}

/// <summary>
/// A membership change or leadership transfer that the leader refused for a reason retrying cannot fix (the node is
/// already a member, not a learner, too far behind to promote, the last voter...). Nothing was proposed.
/// </summary>
public sealed class MembershipChangeRefusedException(string message) : Exception(message);

/// <summary>
/// The peer and client addresses of every member, replicated through the log so that every node (and any node that
/// joins later) can reach members that were not in its static configuration. A Raft configuration entry holds only
/// node ids; the addresses live in the KV store under <see cref="Key"/>, written by the leader before it proposes
/// the configuration entry that adds a node, so any node that applies that entry already holds the addresses.
/// </summary>
/// <remarks>Encoding: UTF-8 lines "id peerAddress clientAddress", sorted by id.</remarks>
public static class MemberAddressBook
{
    /// <summary>The reserved key. Keys under <see cref="ReservedPrefix"/> belong to the node runtime; clients cannot write them.</summary>
    public const string Key = ReservedPrefix + "members";

    /// <summary>
    /// Keys the node runtime writes through the log itself. The client entry points (the gRPC gateway, the session
    /// grains) refuse writes under it with an invalid-argument error: a client that rewrote the address book could
    /// send the members' replication traffic anywhere.
    /// </summary>
    public const string ReservedPrefix = "__raftkv/";

    private static readonly byte[] ReservedPrefixBytes = Encoding.UTF8.GetBytes(ReservedPrefix);

    /// <summary>Whether <paramref name="key"/> is under <see cref="ReservedPrefix"/>.</summary>
    public static bool IsReserved(ReadOnlySpan<byte> key) => key.StartsWith(ReservedPrefixBytes);

    /// <summary>The refusal a client gets for a write under <see cref="ReservedPrefix"/>.</summary>
    public const string ReservedRefusal = "keys under '" + ReservedPrefix + "' are reserved for the cluster's own records; use another key";

    public static readonly ReadOnlyMemory<byte> KeyBytes = Encoding.UTF8.GetBytes(Key);

    public static byte[] Encode(IEnumerable<NodeMember> members) => Encoding.UTF8.GetBytes(string.Join('\n', members
        .OrderBy(m => m.Id)
        .Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Id} {m.PeerAddress} {m.ClientAddress}"))));

    /// <summary>Decodes <see cref="Encode"/>'s form; lines that do not parse are skipped (the book is advisory).</summary>
    public static IReadOnlyList<NodeMember> Decode(ReadOnlySpan<byte> bytes)
    {
        var members = new List<NodeMember>();
        foreach (string line in Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ');
            if (parts.Length == 3 && ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong id) && id != 0)
            {
                members.Add(new NodeMember { Id = id, PeerAddress = parts[1], ClientAddress = parts[2] });
            }
        }
        return members;
    }

    /// <summary>Checks the addresses a joining node gives; returns an error or null.</summary>
    public static string? Validate(NodeMember member)
    {
        ArgumentNullException.ThrowIfNull(member);
        if (member.Id == 0) return "node id 0 is reserved";
        foreach ((string name, string value) in new[] { ("peer address", member.PeerAddress), ("client address", member.ClientAddress) })
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                return $"the {name} '{value}' is not an absolute http(s) URI";
            }
            if (value.Contains(' ', StringComparison.Ordinal) || value.Contains('\n', StringComparison.Ordinal)) return $"the {name} '{value}' contains whitespace";
        }
        return null;
    }
}
