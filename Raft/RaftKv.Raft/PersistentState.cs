namespace RaftKv.Raft;

/// <summary>
/// What a node reads back from stable storage when it restarts: the hard state, the latest snapshot (if any),
/// and every entry after it. <see cref="AppliedIndex"/> is how far the recovered state machine already reflects
/// the log (at least the snapshot index); entries after it up to the commit index are re-applied.
/// </summary>
public sealed record PersistentState
{
    public HardState HardState { get; init; } = HardState.Empty;

    public SnapshotMetadata? Snapshot { get; init; }

    /// <summary>Entries after the snapshot, contiguous and in index order.</summary>
    public IReadOnlyList<LogEntry> Entries { get; init; } = [];

    public ulong AppliedIndex { get; init; }

    /// <summary>A brand-new node of a brand-new cluster.</summary>
    public static PersistentState ForNewCluster(ClusterConfiguration configuration) =>
        new() { Snapshot = new SnapshotMetadata(0, 0, configuration) };
}
