namespace RaftKv.Raft;

/// <summary>
/// Describes a state machine snapshot: it reflects exactly the log prefix through <see cref="Index"/>, whose last
/// entry has <see cref="Term"/>, and the configuration in force at that index (Raft thesis 5.1).
/// </summary>
public sealed record SnapshotMetadata(ulong Index, ulong Term, ClusterConfiguration Configuration)
{
    public override string ToString() => $"snapshot {Index}@{Term} {Configuration}";
}
