using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Simulation;

/// <summary>
/// The disk under one simulated node: a fault-injecting <see cref="SimulatedFileSystem"/> that outlives the node's
/// crashes, and the real <see cref="NodeStorage"/> (WAL + snapshot store) the node's <c>RaftDriver</c> opens on it at
/// every start. A crash tears or loses unsynced writes and undoes unsynced directory operations, and single writes may
/// fail short, which is fail-stop for the node; every restart runs real WAL recovery.
/// </summary>
public sealed class WalSimulatedStorage
{
    private const string Directory = "/node";

    private readonly ClusterConfiguration _configuration;
    private readonly SimulatedFileSystem _fileSystem;
    private readonly WalOptions _walOptions;
    private NodeStorage? _storage;

    /// <param name="faults">
    /// False: the "memory" kind. A crash still loses exactly what was not synced, but never tears it, and no write
    /// fails short.
    /// </param>
    public WalSimulatedStorage(ClusterConfiguration configuration, DeterministicRandom random, double shortWriteProbability, long segmentSizeBytes, bool faults = true)
    {
        _configuration = configuration;
        _fileSystem = new SimulatedFileSystem(random, faults
            ? new SimulatedFileSystemOptions { ShortWriteProbability = shortWriteProbability }
            : new SimulatedFileSystemOptions { TornWriteProbability = 0, ShortWriteProbability = 0 });
        _walOptions = new WalOptions { SegmentSizeBytes = segmentSizeBytes };
    }

    public SimulatedFileSystem FileSystem => _fileSystem;

    /// <summary>Bytes in every file of the node, as the disk holds them now.</summary>
    public long DiskUsageBytes =>
        new[] { "/node/wal", "/node/snapshots" }
            .SelectMany(directory => _fileSystem.ListFiles(directory).Select(name => Path.Combine(directory, name)))
            .Sum(path => (long)_fileSystem.ReadAllBytes(path).Length);

    public RaftKv.Storage.Snapshots.SnapshotStore? Snapshots => _storage?.Snapshots;

    /// <summary>The latest durable snapshot, as the running incarnation sees it.</summary>
    public (SnapshotMetadata Metadata, byte[] Data)? LatestSnapshot =>
        _storage?.LatestSnapshot is { } latest ? (latest, _storage.ReadLatestSnapshotData()) : null;

    /// <summary>Opens the node's storage as a restarting node does: WAL recovery, snapshot store cleanup.</summary>
    public NodeStorage Load()
    {
        _storage = null;
        _storage = NodeStorage.Open(_fileSystem, Directory, _walOptions, _configuration);
        return _storage;
    }

    /// <summary>The liveness phase: storage stops injecting faults (crashes still lose unsynced data).</summary>
    public void StopFaults() => _fileSystem.Options = _fileSystem.Options with { ShortWriteProbability = 0 };

    public void Crash()
    {
        _storage = null; // a crashed process flushes nothing; the next Load reopens and recovers
        _fileSystem.Crash();
    }
}
