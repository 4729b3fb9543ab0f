using System.Text;

namespace RaftKv.Grains.Membership;

/// <summary>
/// Where Orleans' membership lives in the RaftKv key space. Every key under <see cref="ReservedPrefix"/> belongs to
/// the Orleans integration; applications must not write keys that start with it (a user write there could corrupt
/// or fake cluster membership).
/// </summary>
public static class MembershipKeys
{
    /// <summary>The key prefix reserved for Orleans' own data in the store.</summary>
    public const string ReservedPrefix = "__orleans/";

    /// <summary>The prefix of the membership data of all clusters.</summary>
    public const string MembershipPrefix = ReservedPrefix + "membership/";

    /// <summary>
    /// The one key that holds a cluster's whole membership table (version row and every silo row). One key, because
    /// the store's compare-and-swap covers one key, and Orleans needs a row and the table version changed atomically.
    /// </summary>
    public static byte[] TableKey(string clusterId)
    {
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        return Encoding.UTF8.GetBytes($"{MembershipPrefix}{clusterId}/table");
    }
}
