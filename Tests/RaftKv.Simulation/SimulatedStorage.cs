using RaftKv.Raft;

namespace RaftKv.Simulation;

public enum SimulatedStorageKind
{
    /// <summary>
    /// The real WAL on a simulated disk without faults: a crash loses exactly what was not synced (never a torn
    /// prefix), and no write fails.
    /// </summary>
    Memory = 0,

    /// <summary>The real write-ahead log over the fault-injecting simulated file system (torn and short writes).</summary>
    WriteAheadLog = 1,
}

/// <summary>
/// Durable in-memory storage for the hand-driven <see cref="ScenarioCluster"/>: the simplest faithful model of
/// "fsync'd data survives, the rest does not".
/// </summary>
public sealed class MemorySimulatedStorage(ClusterConfiguration configuration)
{
    private HardState _hardState = HardState.Empty;
    private SnapshotMetadata _snapshot = new(0, 0, configuration);
    private byte[]? _snapshotData;
    private readonly List<LogEntry> _entries = [];
    private readonly List<(Ready Ready, byte[]? SnapshotData)> _unsynced = [];

    public (SnapshotMetadata Metadata, byte[] Data)? LatestSnapshot =>
        _snapshotData is null ? null : (_snapshot, _snapshotData);

    public (PersistentState State, byte[]? SnapshotData) Load() =>
        (new PersistentState { HardState = _hardState, Snapshot = _snapshot, Entries = [.. _entries], AppliedIndex = _snapshot.Index }, _snapshotData);

    public void Write(Ready ready, byte[]? snapshotData) => _unsynced.Add((ready, snapshotData));

    public void Sync()
    {
        foreach ((Ready ready, byte[]? snapshotData) in _unsynced)
        {
            if (ready.Snapshot is { } snapshot)
            {
                _snapshot = snapshot;
                _snapshotData = snapshotData;
                _entries.Clear();
            }
            if (ready.Entries.Count > 0)
            {
                ulong first = ready.Entries[0].Index;
                Invariant.Check(first > _snapshot.Index, $"entries from {first} overlap the snapshot at {_snapshot.Index}");
                int keep = (int)Math.Min((ulong)_entries.Count, first - _snapshot.Index - 1);
                _entries.RemoveRange(keep, _entries.Count - keep);
                _entries.AddRange(ready.Entries);
            }
            if (ready.HardState is { } hardState) _hardState = hardState;
        }
        _unsynced.Clear();
    }

    public void SaveSnapshot(SnapshotMetadata metadata, byte[] data)
    {
        if (metadata.Index <= _snapshot.Index) return;
        int covered = (int)Math.Min((ulong)_entries.Count, metadata.Index - _snapshot.Index);
        _entries.RemoveRange(0, covered);
        _snapshot = metadata;
        _snapshotData = data;
    }

    public void Crash() => _unsynced.Clear();

    public void StopFaults()
    {
    }
}
