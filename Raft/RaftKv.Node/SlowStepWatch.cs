using Microsoft.Extensions.Logging;
using RaftKv.Raft;

namespace RaftKv.Node;

/// <summary>
/// Tells the operator when one driver step held the Raft loop for two heartbeat intervals or more. The loop sends
/// heartbeats and acknowledgements only between steps, so a leader's long step (a slow fsync, CPU starvation, a
/// stalled process) is an election its followers may start; etcd warns in the same place ("leader failed to send out
/// heartbeat on time"). Says where the time went: persisting, applying, or neither (the machine was starved). At most
/// one warning per <see cref="QuietPeriodSeconds"/>, counting the slow steps it stood for. Driver thread only.
/// </summary>
internal sealed class SlowStepWatch(TimeProvider time, ILogger logger, ulong nodeId, int heartbeatIntervalMs, NodeMetrics metrics)
{
    internal const int QuietPeriodSeconds = 10;

    private readonly long _threshold = time.TimestampFrequency * 2 * heartbeatIntervalMs / 1000;
    private long _stepStart;
    private TimeSpan _persisting;
    private int _persistedEntries;
    private TimeSpan _applying;
    private int _appliedEntries;
    private long _lastWarning = long.MinValue;
    private int _unreported;
    private long _worstUnreportedTicks;

    public void StepStarted()
    {
        _stepStart = time.GetTimestamp();
        _persisting = _applying = TimeSpan.Zero;
        _persistedEntries = _appliedEntries = 0;
    }

    public void Persisted(TimeSpan elapsed, int entries)
    {
        _persisting += elapsed;
        _persistedEntries += entries;
    }

    public void Applied(TimeSpan elapsed, int entries)
    {
        _applying += elapsed;
        _appliedEntries += entries;
    }

    public void StepEnded(RaftRole role)
    {
        long now = time.GetTimestamp();
        long took = now - _stepStart; // negative when a faked clock went back meanwhile: not slow
        if (took < _threshold) return;
        metrics.SlowStep();
        _unreported++;
        _worstUnreportedTicks = Math.Max(_worstUnreportedTicks, took);
        if (_lastWarning != long.MinValue && now - _lastWarning < time.TimestampFrequency * QuietPeriodSeconds) return;
        NodeLog.SlowStep(logger, nodeId, role, Ms(took), (long)_persisting.TotalMilliseconds, _persistedEntries, (long)_applying.TotalMilliseconds, _appliedEntries,
            heartbeatIntervalMs, _unreported - 1, Ms(_worstUnreportedTicks));
        _lastWarning = now;
        _unreported = 0;
        _worstUnreportedTicks = 0;
    }

    private long Ms(long ticks) => ticks * 1000 / time.TimestampFrequency;
}
