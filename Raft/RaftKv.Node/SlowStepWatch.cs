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
    private long _persistTicks;
    private int _persistedEntries;
    private long _applyTicks;
    private int _appliedEntries;
    private long _lastWarning = long.MinValue;
    private int _unreported;
    private long _worstUnreportedTicks;

    public void StepStarted()
    {
        _stepStart = time.GetTimestamp();
        _persistTicks = _applyTicks = 0;
        _persistedEntries = _appliedEntries = 0;
    }

    public void Persisted(long ticks, int entries)
    {
        _persistTicks += ticks;
        _persistedEntries += entries;
    }

    public void Applied(long ticks, int entries)
    {
        _applyTicks += ticks;
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
        NodeLog.SlowStep(logger, nodeId, role, Ms(took), Ms(_persistTicks), _persistedEntries, Ms(_applyTicks), _appliedEntries,
            heartbeatIntervalMs, _unreported - 1, Ms(_worstUnreportedTicks));
        _lastWarning = now;
        _unreported = 0;
        _worstUnreportedTicks = 0;
    }

    private long Ms(long ticks) => ticks * 1000 / time.TimestampFrequency;
}
