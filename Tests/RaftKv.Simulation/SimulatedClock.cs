namespace RaftKv.Simulation;

/// <summary>
/// One node incarnation's clock: the simulation's virtual time as a <see cref="TimeProvider"/>. Timers (the driver's
/// tick timer, <c>Task.Delay</c> and cancellation deadlines of admin calls) fire as simulated events on the
/// simulation's thread. A crash stops every timer of the incarnation (<see cref="Stop"/>), so nothing of a dead
/// process runs later. The first firing of each periodic timer is shifted by a per-node phase, so that nodes started
/// together do not tick in lockstep.
/// </summary>
internal sealed class SimulatedClock(Func<long> nowMs, Action<long, Action> schedule, long phaseMs) : TimeProvider
{
    private bool _stopped;

    public override long TimestampFrequency => 1000;

    public override long GetTimestamp() => nowMs();

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch.AddMilliseconds(nowMs());

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public void Stop() => _stopped = true;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class Timer(SimulatedClock clock, TimerCallback callback, object? state) : ITimer
    {
        private long _generation;
        private long _periodMs;
        private bool _first = true;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            long generation = ++_generation;
            if (dueTime == Timeout.InfiniteTimeSpan) return true;
            _periodMs = period == Timeout.InfiniteTimeSpan || period == TimeSpan.Zero ? 0 : Math.Max(1, (long)period.TotalMilliseconds);
            long dueMs = Math.Max(0, (long)Math.Ceiling(dueTime.TotalMilliseconds));
            if (_first && _periodMs > 0) dueMs += clock._phase % _periodMs;
            _first = false;
            Arm(generation, dueMs);
            return true;
        }

        private void Arm(long generation, long dueMs) => clock._schedule(dueMs, () =>
        {
            if (clock._stopped || generation != _generation) return;
            callback(state);
            if (_periodMs > 0 && generation == _generation) Arm(generation, _periodMs);
        });

        public void Dispose() => _generation++;

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private readonly Action<long, Action> _schedule = schedule;
    private readonly long _phase = phaseMs;
}
