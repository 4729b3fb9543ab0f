namespace RaftKv.Node;

/// <summary>
/// Tickless idling. The core counts time in ticks (<see cref="NodeOptions.TickIntervalMs"/>), but most ticks only
/// advance counters. Instead of a periodic timer waking the driver every tick, a one-shot timer is armed for the tick
/// at which the core's next timer falls due (<see cref="Raft.RaftNode.TicksUntilNextTimer"/>: a heartbeat, a
/// CheckQuorum round, an election, ...), and the driver calls <see cref="Raft.RaftNode.Tick"/> once for every tick
/// interval that elapsed, measured from a fixed epoch, before it steps a message (stamped when it arrived) or when the
/// timer fires. The core thus sees the same ticks, in the same order relative to messages, as with a periodic timer;
/// only the wake-ups in between are gone. An idle leader wakes once per heartbeat interval instead of once per tick.
/// </summary>
public sealed partial class RaftDriver
{
    // Longest the timer sleeps when the core has no timer running (a learner), so gauges keep being published.
    private const int MaxSleepTicks = 100;

    // How late after its armed tick a wake-up may come and still have every tick counted (see AdvanceClock).
    private const int LateTicksCounted = 2;

    private readonly ManualResetEventSlim _inputArrived = new(initialState: false, spinCount: 0);
    private long _tickEpoch;
    private long _ticksElapsed;
    private long _armedTick = long.MaxValue;

    private TimeSpan TickInterval => TimeSpan.FromMilliseconds(_options.TickIntervalMs);

    /// <summary>
    /// Blocks the driver thread until an input is queued (true) or the inbox is completed (false). Unlike blocking on
    /// the wait's task, this does not spin (Task.Wait spun in sched_yield before sleeping, at every wake-up).
    /// </summary>
    private bool WaitForInput()
    {
        ValueTask<bool> wait = _inbox.Reader.WaitToReadAsync();
        if (!wait.IsCompleted)
        {
            _inputArrived.Reset();
            wait.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_inputArrived.Set);
            _inputArrived.Wait();
        }
        return wait.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Ticks the core once for every tick interval elapsed between the epoch and <paramref name="timestamp"/> that it
    /// has not been ticked for yet.
    /// <para>Time this driver was not running does not count, as it did not with a periodic timer (which skips the
    /// periods it missed): when the driver is woken more than <see cref="LateTicksCounted"/> ticks after the tick its
    /// timer was armed for, the process or the thread was stalled (a pause, CPU starvation on an overloaded machine), and
    /// the ticks beyond are dropped by moving the epoch on. Counting them would make a node that was itself frozen act
    /// on timeouts it could not have observed (a follower campaigning, a leader stepping down through CheckQuorum,
    /// before it has read the messages that waited for it). Raft's safety does not depend on timing; this only keeps
    /// a stalled node from disturbing a healthy cluster, as the periodic tick did.</para>
    /// </summary>
    private void AdvanceClock(long timestamp)
    {
        long target = _time.GetElapsedTime(_tickEpoch, timestamp).Ticks / TickInterval.Ticks;
        if (_armedTick != long.MaxValue && target > _armedTick + LateTicksCounted)
        {
            long dropped = target - (_armedTick + LateTicksCounted);
            _tickEpoch += (long)(dropped * TickInterval.TotalSeconds * _time.TimestampFrequency);
            target -= dropped;
        }
        long due = target - _ticksElapsed;
        if (due <= 0) return;
        for (long i = 0; i < due; i++) _raft.Tick();
        _ticksElapsed = target;
        ExpireReads();
        MaybePublishSample((int)Math.Min(due, int.MaxValue));
    }

    /// <summary>
    /// After each loop iteration: makes sure the timer fires no later than the tick at which the core's next timer is
    /// due (every tick while reads wait, for their timeout). A timer armed earlier is left alone: it fires, finds
    /// nothing or little to do, and is armed again; so a follower whose election deadline moves on with every
    /// heartbeat does not re-arm the timer for each.
    /// </summary>
    private void ScheduleTick()
    {
        int sleep = _reads.Count > 0 ? 1 : Math.Min(_raft.TicksUntilNextTimer(), MaxSleepTicks);
        long next = _ticksElapsed + sleep;
        if (next >= _armedTick) return;
        _armedTick = next;
        // The timer's clock has millisecond resolution; one more keeps it from firing just before the tick.
        TimeSpan due = TickInterval * next - _time.GetElapsedTime(_tickEpoch) + TimeSpan.FromMilliseconds(1);
        try
        {
            _ticker!.Change(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
    }
}
