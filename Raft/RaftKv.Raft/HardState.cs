namespace RaftKv.Raft;

/// <summary>
/// The Raft state that must be on stable storage before the node answers any RPC (Raft thesis 3.8, figure 3.1):
/// the current term and the vote cast in it. <see cref="Commit"/> is stored too so that a restarted node can
/// re-apply committed entries without waiting for a leader; it is a hint, never a safety requirement.
/// </summary>
public readonly record struct HardState(ulong Term, ulong Vote, ulong Commit)
{
    public static readonly HardState Empty = new(0, 0, 0);

    public override string ToString() => $"term={Term} vote={Vote} commit={Commit}";
}
