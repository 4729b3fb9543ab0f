using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Simulation;

/// <summary>
/// What a simulated node's <c>RaftDriver</c> applies to: the in-memory twin of FASTER (<see cref="MemoryKvStateMachine"/>,
/// the same <see cref="KvApply"/> path and snapshot bytes) plus a model of FASTER's checkpoints, since FASTER itself
/// cannot run on the simulated file system. A checkpoint captures the twin's snapshot bytes at the applied index when
/// it starts (FASTER's CPR cut) and becomes durable later, as a simulated event (<paramref name="makeDurable"/>); a
/// crash loses everything applied since the last durable checkpoint, and a restart starts from it (or from the Raft
/// snapshot when that is newer, as the driver's constructor decides) and re-applies the log. A restore is durable at
/// once (FASTER's Restore checkpoints the new store before switching to it).
/// </summary>
internal sealed class SimulatedKvStateMachine(MemoryKvStateMachine twin, Action<ulong, byte[], TaskCompletionSource<CheckpointResult>> makeDurable, Action<ulong, byte[]> restored)
    : IKvStateMachine
{
    private Task<CheckpointResult>? _inFlight;

    public MemoryKvStateMachine Twin => twin;

    public ulong AppliedIndex => twin.AppliedIndex;

    public StateMachineOptions Options => twin.Options;

    public int SessionCount => twin.SessionCount;

    public long LogSizeBytes => 0;

    public ReadOnlyMemory<byte> Apply(in LogEntry entry) => twin.Apply(entry);

    public KvEntry? Get(ReadOnlyMemory<byte> key) => twin.Get(key);

    public IReadOnlyList<KvEntry> Scan(ReadOnlyMemory<byte> prefix, int limit) => twin.Scan(prefix, limit);

    public IStateMachineSnapshot TakeSnapshot() => twin.TakeSnapshot();

    /// <summary>The in-memory twin has no log to compact; the driver's call is still exercised.</summary>
    public LogCompactionResult CompactLog() => new(false, 0, 0, "no log in the simulated store");

    public void Restore(ulong index, Stream snapshot)
    {
        twin.Restore(index, snapshot);
        restored(index, twin.SnapshotBytes());
    }

    /// <summary>As FASTER's: one checkpoint at a time; asking while one is in flight returns it.</summary>
    public Task<CheckpointResult> CheckpointAsync(CancellationToken cancellationToken = default)
    {
        if (_inFlight is { IsCompleted: false } inFlight) return inFlight;
        var done = new TaskCompletionSource<CheckpointResult>();
        makeDurable(twin.AppliedIndex, twin.SnapshotBytes(), done);
        _inFlight = done.Task;
        return done.Task;
    }

    public void Dispose()
    {
    }
}
