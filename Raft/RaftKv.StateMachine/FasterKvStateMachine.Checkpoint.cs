using FASTER.core;

namespace RaftKv.StateMachine;

public sealed partial class FasterKvStateMachine
{
    /// <summary>
    /// Starts a durable checkpoint of the state at the current <see cref="AppliedIndex"/> and returns a task that
    /// completes once it is on disk. Call it on the apply thread between two Apply calls; the apply loop may go on
    /// as soon as this method returns, while the checkpoint is flushed in the background. If a checkpoint is already
    /// in flight, its task is returned (its result names the index it covers).
    /// </summary>
    /// <remarks>
    /// Why the applied index is exact: FASTER checkpoints are CPR-consistent per session, cut where the session
    /// moves from version v to v+1. Only the apply session writes, and this method moves it to v+1 itself (by
    /// refreshing until the store's version has advanced) before returning, so the cut falls exactly between entry
    /// AppliedIndex and the next one. The applied index and the session table travel in FASTER's commit cookie, which
    /// FASTER writes with the checkpoint metadata and gives back on recovery; the cookie is set before the
    /// checkpoint starts and left untouched until it ends. (FASTER's per-session serial numbers, CommitPoint, would
    /// only say which operations made it, not which log entries, since no-op and session-only entries issue no
    /// FASTER operation.)
    /// Why the whole log is made read-only before the cut: after the cut, an update of a key whose record of the old
    /// version lies in the log's mutable region must copy it to the tail, and FASTER (2.6.5) then seals the old record.
    /// Recovery undoes the copy (it is past the cut), which makes the sealed record the key's latest again, but clears
    /// seals only on the pages it loads into memory: below the recovered head address the seal stays on disk, and log
    /// scans, which read those pages, skip sealed records. Snapshot images would lose the key, and lookup compaction
    /// would drop its only live record (reads by key clear the seal and still find it). A record below the read-only
    /// address is never sealed, and nothing of the old version is written after the cut, so with the read-only
    /// address at the tail no record the checkpoint holds can be sealed. (The checkpoint folds the log over at the
    /// tail anyway; this only does it before the cut instead of after.)
    /// </remarks>
    public Task<CheckpointResult> CheckpointAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_checkpointInFlight is { IsCompleted: false } inFlight) return inFlight;
        // Under the compaction gate: a running compaction stops after its current step, and none starts until
        // _checkpointInFlight is set, so the compaction session never writes across the CPR cut.
        lock (_compactionGate)
        {
            WaitWhileCompacting();
            return StartCheckpoint(cancellationToken);
        }
    }

    private Task<CheckpointResult> StartCheckpoint(CancellationToken cancellationToken)
    {
        var store = _store;
        ulong index = AppliedIndex;
        store.Kv.Log.ShiftReadOnlyAddress(store.Kv.Log.TailAddress, wait: false); // nothing sealed after the cut (remarks)
        store.Kv.CommitCookie = EncodeCookie(index, _sessions.Capture());
        long version = store.Kv.CurrentVersion;
        if (!store.Kv.TryInitiateFullCheckpoint(out _, CheckpointType.FoldOver))
        {
            return Task.FromResult(new CheckpointResult(false, index, "FASTER refused to start a checkpoint"));
        }
        // Draw the CPR cut here, between entries: refresh the apply session until the store has moved to the next
        // version, so every later operation of this session belongs to it.
        while (store.Kv.CurrentVersion == version)
        {
            _applySession.Refresh();
            Thread.Yield();
        }
        _checkpointInFlight = CompleteCheckpointAsync(store, index, cancellationToken);
        return _checkpointInFlight;
    }

    private static async Task<CheckpointResult> CompleteCheckpointAsync(FasterStore store, ulong index, CancellationToken cancellationToken)
    {
        await store.Kv.CompleteCheckpointAsync(cancellationToken).ConfigureAwait(false);
        // The checkpoint is durable and records the log's begin address (no compaction runs while a checkpoint is in
        // flight), so the files below it are no longer needed by any recovery: delete them.
        store.Kv.Log.Truncate();
        return new CheckpointResult(true, index);
    }

    private void WaitForCheckpoint()
    {
        if (_checkpointInFlight is { } inFlight)
        {
            try { inFlight.GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { }
        }
    }
}
