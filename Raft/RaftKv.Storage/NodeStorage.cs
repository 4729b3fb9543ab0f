using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage;

/// <summary>
/// Everything one Raft node keeps on disk: the write-ahead log (term, vote, entries, snapshot boundary) and the
/// latest state machine snapshot, under one directory. It carries out the persistence half of a
/// <see cref="Ready"/> and, at open, finishes a snapshot install or compaction that a crash interrupted.
/// </summary>
/// <remarks>
/// Ordering: a snapshot file is published (durably) before the WAL records its boundary, so the WAL never points
/// at a missing snapshot. A crash between the two leaves a snapshot newer than the WAL's boundary; <see cref="Open"/>
/// then records the boundary, which keeps the log suffix only if it agrees with the snapshot (Raft thesis 5.3).
/// Durability and failure: as for <see cref="WriteAheadLog"/> — every method is durable on return; any I/O error is
/// fail-stop. Not thread-safe: the node's driver loop owns it.
/// </remarks>
public sealed class NodeStorage : IDisposable
{
    private readonly WriteAheadLog _wal;
    private readonly SnapshotStore _snapshots;
    private readonly ClusterConfiguration _initialConfiguration;

    private NodeStorage(WriteAheadLog wal, SnapshotStore snapshots, ClusterConfiguration initialConfiguration)
    {
        _wal = wal;
        _snapshots = snapshots;
        _initialConfiguration = initialConfiguration;
    }

    /// <summary>
    /// Opens (or creates) the node's storage under <paramref name="directory"/> and recovers it.
    /// <paramref name="initialConfiguration"/> is the cluster a brand-new node starts in; once a snapshot exists,
    /// the configuration comes from storage.
    /// </summary>
    /// <exception cref="WalCorruptionException">The log is damaged in a way a crash cannot explain.</exception>
    /// <exception cref="SnapshotCorruptionException">The latest snapshot fails its checksum.</exception>
    /// <param name="walMetrics">Where the WAL records its latencies, bytes and segments; null records nothing.</param>
    public static NodeStorage Open(IFileSystem fileSystem, string directory, WalOptions options, ClusterConfiguration initialConfiguration,
        WalMetrics? walMetrics = null)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentNullException.ThrowIfNull(initialConfiguration);
        string walDirectory = Path.Combine(directory, "wal");
        string snapshotDirectory = Path.Combine(directory, "snapshots");
        // Each store creates its directory, and any missing ancestor of it, durably.
        WriteAheadLog wal = WriteAheadLog.Open(fileSystem, walDirectory, options, walMetrics);
        SnapshotStore snapshots = SnapshotStore.Open(fileSystem, snapshotDirectory);
        if (snapshots.Latest is { } latest && latest.Index > (wal.Snapshot?.Index ?? 0))
        {
            wal.InstallSnapshot(latest); // finish what a crash interrupted
        }
        Invariant.Check(wal.Snapshot is null || (snapshots.Latest?.Index ?? 0) >= wal.Snapshot.Index,
            $"the WAL's snapshot boundary {wal.Snapshot} has no snapshot file in {snapshotDirectory}");
        return new NodeStorage(wal, snapshots, initialConfiguration);
    }

    /// <summary>What the node recovers: hard state, snapshot boundary (never null) and the entries after it.</summary>
    public PersistentState ReadPersistentState()
    {
        PersistentState state = _wal.ReadPersistentState();
        SnapshotMetadata snapshot = _snapshots.Latest ?? new SnapshotMetadata(0, 0, _initialConfiguration);
        return state with { Snapshot = snapshot, AppliedIndex = snapshot.Index };
    }

    /// <summary>The latest snapshot's metadata, or null if none was ever taken or installed.</summary>
    public SnapshotMetadata? LatestSnapshot => _snapshots.Latest;

    /// <summary>The latest snapshot's bytes (checksum verified), for restoring the state machine or sending to a follower.</summary>
    public byte[] ReadLatestSnapshotData() => _snapshots.ReadLatestData();

    public SnapshotStore Snapshots => _snapshots;

    /// <summary>The hard state and log entries of a Ready, durable on return with one fsync (group commit).</summary>
    public void Save(HardState? hardState, IReadOnlyList<LogEntry> entries)
    {
        if (hardState is not null || entries.Count > 0) _wal.Save(hardState, entries);
    }

    /// <summary>A snapshot received from the leader: replaces the log it covers (Ready.Snapshot).</summary>
    public void InstallSnapshot(SnapshotMetadata metadata, ReadOnlySpan<byte> data)
    {
        _snapshots.Save(metadata, data);
        _wal.InstallSnapshot(metadata);
    }

    /// <summary>Records that <see cref="Snapshots"/> already holds <paramref name="metadata"/>'s snapshot and installs it.</summary>
    public void InstallPublishedSnapshot(SnapshotMetadata metadata)
    {
        Invariant.Check(_snapshots.Latest?.Index == metadata.Index, $"snapshot {metadata} was not published");
        _wal.InstallSnapshot(metadata);
    }

    /// <summary>A snapshot this node took: publishes it, then drops whole WAL segments it covers.</summary>
    public void CompactTo(SnapshotMetadata metadata, ReadOnlySpan<byte> data)
    {
        _snapshots.Save(metadata, data);
        _wal.CompactTo(metadata);
    }

    /// <summary>Records a compaction whose snapshot was already streamed into <see cref="Snapshots"/> (BeginWrite/Commit).</summary>
    public void CompactToPublished(SnapshotMetadata metadata)
    {
        Invariant.Check(_snapshots.Latest?.Index == metadata.Index, $"snapshot {metadata} was not published");
        _wal.CompactTo(metadata);
    }

    public ulong LastIndex => _wal.LastIndex;

    public int SegmentCount => _wal.SegmentCount;

    public void Dispose() => _wal.Dispose();
}
