using FASTER.core;

namespace RaftKv.StateMachine;

/// <summary>What one <see cref="IKvStateMachine.CompactLog"/> call did.</summary>
/// <param name="Compacted">Whether any part of the log was compacted.</param>
/// <param name="LogBytesBefore">The store log's size (begin to tail) before the call.</param>
/// <param name="LogBytesAfter">Its size after the call.</param>
/// <param name="Reason">Why nothing (or not everything) was compacted, for the log; empty when all of it was.</param>
public readonly record struct LogCompactionResult(bool Compacted, long LogBytesBefore, long LogBytesAfter, string Reason = "");

public sealed partial class FasterKvStateMachine
{
    /// <summary>
    /// Compaction works through the log in steps of this many bytes and stops early, between two steps, when a log
    /// scan, a snapshot capture or a checkpoint is waiting, so none of them waits longer than one step.
    /// </summary>
    internal const long CompactionStepBytes = 8L * 1024 * 1024;

    // The gate between log compaction and everything that must not overlap it: snapshot images (they scan
    // [begin, tail) and read records by address, so the begin address must not move under them), prefix scans (the
    // same), checkpoints (only the apply session writes during a checkpoint's CPR cut) and Restore/Dispose.
    private readonly object _compactionGate = new();
    private int _logScans;       // snapshot images alive + prefix scans running
    private int _gateWaiters;    // callers waiting for a compaction step to end
    private bool _compacting;
    private long _liveBytesEstimate = -1; // record bytes of the latest snapshot written; -1 until there is one

    /// <summary>
    /// Reclaims the space of overwritten and deleted records in FASTER's log. FASTER appends a new record for every
    /// update of a record that is no longer in the log's mutable tail (and every checkpoint and snapshot capture makes
    /// the whole log immutable), so without compaction the log — on disk and for every snapshot's scan — grows with
    /// every write ever made, not with the data. This copies the live records of the log's immutable part to its
    /// tail (FASTER's lookup compaction: a record is live if the hash index still leads to it) and moves the begin
    /// address past them; the next checkpoint deletes the files below it.
    /// </summary>
    /// <remarks>
    /// Runs only when the log is more than twice the live data measured by the latest snapshot plus
    /// <see cref="StateMachineOptions.CompactionMinimumLogBytes"/>, so the copying costs at most about one copy of the
    /// live data per that much written. Call it on a background thread, never the apply thread (it takes seconds on a
    /// large store); Apply and reads go on meanwhile. It does not start while a snapshot image is alive, a prefix scan
    /// runs or a checkpoint is in flight, and it yields to any of them that arrives, so it may compact only part of
    /// the log; the next call goes on. The applied state does not change: the same keys, values and versions, the
    /// same snapshot bytes.
    /// </remarks>
    public LogCompactionResult CompactLog()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var store = AcquireStore();
        try
        {
            long before = store.Kv.Log.TailAddress - store.Kv.Log.BeginAddress;
            long live = Volatile.Read(ref _liveBytesEstimate);
            if (live < 0) return new LogCompactionResult(false, before, before, "no snapshot has measured the live data yet");
            if (before <= 2 * live + _options.CompactionMinimumLogBytes)
            {
                return new LogCompactionResult(false, before, before, "the log is not yet large against its live data");
            }
            lock (_compactionGate)
            {
                if (_compacting) return new LogCompactionResult(false, before, before, "a compaction is running");
                if (_logScans > 0) return new LogCompactionResult(false, before, before, "a snapshot image or scan is using the log");
                if (_checkpointInFlight is { IsCompleted: false }) return new LogCompactionResult(false, before, before, "a checkpoint is in flight");
                _compacting = true;
            }
            try
            {
                return CompactSteps(store, before);
            }
            finally
            {
                lock (_compactionGate)
                {
                    _compacting = false;
                    Monitor.PulseAll(_compactionGate);
                }
            }
        }
        finally
        {
            store.Release();
        }
    }

    private LogCompactionResult CompactSteps(FasterStore store, long before)
    {
        // Everything below the safe read-only address is immutable: no session changes it in place any more.
        long target = store.Kv.Log.SafeReadOnlyAddress;
        using var session = store.NewSession();
        string reason = "";
        while (store.Kv.Log.BeginAddress < target)
        {
            long until = Math.Min(target, store.Kv.Log.BeginAddress + CompactionStepBytes);
            // Copies each live record of [begin, until) to the tail (unless a newer record of its key appeared
            // meanwhile) and moves the begin address to until; the files go at the next checkpoint.
            session.Compact(until, CompactionType.Lookup);
            lock (_compactionGate)
            {
                if (_gateWaiters > 0 || _disposeRequested)
                {
                    reason = "stopped early for a snapshot, scan, checkpoint or shutdown";
                    break;
                }
            }
        }
        long after = store.Kv.Log.TailAddress - store.Kv.Log.BeginAddress;
        return new LogCompactionResult(true, before, after, reason);
    }

    /// <summary>Waits for a running compaction step to end; the caller then holds the gate as a log scan until <see cref="ExitLogScan"/>.</summary>
    private void EnterLogScan()
    {
        lock (_compactionGate)
        {
            WaitWhileCompacting();
            _logScans++;
        }
    }

    private void ExitLogScan()
    {
        lock (_compactionGate) _logScans--;
    }

    /// <summary>Under <see cref="_compactionGate"/>: waits until no compaction runs (a running one stops after its current step).</summary>
    private void WaitWhileCompacting()
    {
        _gateWaiters++;
        try
        {
            while (_compacting) Monitor.Wait(_compactionGate);
        }
        finally
        {
            _gateWaiters--;
        }
    }

    /// <summary>Remembers how many record bytes the latest snapshot held: the live data that compaction measures the log against.</summary>
    private void NoteLiveBytes(long recordBytes) => Volatile.Write(ref _liveBytesEstimate, recordBytes);

    // Keys in the latest snapshot written: the next image sizes its key dictionary for about as many, instead of
    // growing it (and copying it) a score of times on the way.
    private int _liveKeysEstimate;

    private void NoteLiveKeys(int keys) => Volatile.Write(ref _liveKeysEstimate, keys);

    private int LiveKeysEstimate => Volatile.Read(ref _liveKeysEstimate);
}
