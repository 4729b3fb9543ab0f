using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Simulation;

/// <summary>
/// The real <see cref="NodeStorage"/> (WAL + snapshot store) over a fault-injecting <see cref="SimulatedFileSystem"/>:
/// a crash tears or loses unsynced writes and undoes unsynced directory operations, and single writes may fail
/// short, which is fail-stop for the node. Every restart runs real WAL recovery, so the simulator checks the
/// storage layer's promises together with the core's.
/// </summary>
public sealed class WalSimulatedStorage(ClusterConfiguration configuration, DeterministicRandom random, double shortWriteProbability, long segmentSizeBytes)
    : ISimulatedStorage
{
    private const string Directory = "/node";

    private readonly SimulatedFileSystem _fileSystem =
        new(random, new SimulatedFileSystemOptions { ShortWriteProbability = shortWriteProbability });
    private readonly WalOptions _walOptions = new() { SegmentSizeBytes = segmentSizeBytes };
    private readonly List<(Ready Ready, byte[]? SnapshotData)> _unsynced = [];
    private NodeStorage? _storage;

    public SimulatedFileSystem FileSystem => _fileSystem;

    /// <summary>Bytes in every file of the node, as the disk holds them now.</summary>
    public long DiskUsageBytes =>
        new[] { "/node/wal", "/node/snapshots" }
            .SelectMany(directory => _fileSystem.ListFiles(directory).Select(name => Path.Combine(directory, name)))
            .Sum(path => (long)_fileSystem.ReadAllBytes(path).Length);

    public RaftKv.Storage.Snapshots.SnapshotStore? Snapshots => _storage?.Snapshots;

    public (SnapshotMetadata Metadata, byte[] Data)? LatestSnapshot =>
        _storage?.LatestSnapshot is { } latest ? (latest, _storage.ReadLatestSnapshotData()) : null;

    public (PersistentState State, byte[]? SnapshotData) Load()
    {
        _storage?.Dispose();
        _storage = NodeStorage.Open(_fileSystem, Directory, _walOptions, configuration);
        PersistentState state = _storage.ReadPersistentState();
        return (state, _storage.LatestSnapshot is null ? null : _storage.ReadLatestSnapshotData());
    }

    public void Write(Ready ready, byte[]? snapshotData) => _unsynced.Add((ready, snapshotData));

    public void Sync()
    {
        NodeStorage storage = _storage ?? throw new InvalidOperationException("storage not loaded");
        try
        {
            foreach ((Ready ready, byte[]? snapshotData) in _unsynced)
            {
                if (ready.Snapshot is { } snapshot)
                {
                    // A snapshot received in chunks is already published in the store (as in the silo's driver).
                    if (snapshotData is null) storage.InstallPublishedSnapshot(snapshot);
                    else storage.InstallSnapshot(snapshot, snapshotData);
                }
                storage.Save(ready.HardState, ready.Entries);
            }
        }
        finally
        {
            _unsynced.Clear();
        }
    }

    public void SaveSnapshot(SnapshotMetadata metadata, byte[] data) => _storage!.CompactTo(metadata, data);

    public void StopFaults() => _fileSystem.Options = _fileSystem.Options with { ShortWriteProbability = 0 };

    public void Crash()
    {
        _unsynced.Clear();
        _storage = null; // a crashed process flushes nothing; the next Load reopens and recovers
        _fileSystem.Crash();
    }
}
