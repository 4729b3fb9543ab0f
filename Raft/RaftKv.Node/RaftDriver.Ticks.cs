namespace RaftKv.Node;

/// <summary>
/// Tickless idling. The core counts time in ticks (<see cref="NodeOptions.TickIntervalMs"/>), but most ticks only
/// advance counters. Instead of a periodic timer waking the driver every tick, a one-shot timer is armed for the tick
/// at which the core's next timer falls due (<see cref="Raft.RaftNode.TicksUntilNextTimer"/>: a heartbeat, a
/// CheckQuorum round, an election, ...), and the driver calls <see cref="Raft.RaftNode.Tick"/> once for every tick
/// interval that elapsed, measured from a fixed epoch, before it steps a message (stamped when it arrived) or when the
/// timer fires. The core thus sees the same ticks, in the same order relative to messages, as with a periodic timer;
/// only the wake-ups in between are gone. An idle leader wakes once per heartbeat interval instead of once per tick.
/// <para>Who keeps the timer: in a silo (<see cref="Start"/>) the driver thread itself, by waiting for inputs no longer
/// than until the armed tick; in the simulator (<see cref="Attach"/>) a timer of the <see cref="TimeProvider"/>, whose
/// callback queues the tick. Both queue the same <c>TickInput</c>, stamped when the tick was found due. The silo does
/// not use a <see cref="System.Threading.Timer"/> because each firing costs an idle process three or four thread
/// wake-ups: the .NET timer thread computes due times from <see cref="Environment.TickCount64"/>, which on Linux is
/// CLOCK_MONOTONIC_COARSE (4 ms resolution on the development machine), so it wakes, finds the timer not yet due,
/// sleeps a millisecond, and again, before it queues the callback to a thread-pool worker, which then wakes the driver
/// thread. The driver thread's own timed wait ends on the precise clock.</para>
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
    // Thread mode (no _ticker): when the armed tick is due, as a TimeProvider timestamp; long.MaxValue when none is armed.
    private long _tickDueTimestamp = long.MaxValue;
    private long _tickInputs;
    // The driver's latest reading of the clock (see ReadClock); long.MinValue before the first.
    private long _clock = long.MinValue;
    private long _clockJumpsBack;

    /// <summary>How many timer ticks (queued by the timer or the driver thread) the driver has handled, for tests.</summary>
    internal long TickInputs => Interlocked.Read(ref _tickInputs);

    private TimeSpan TickInterval => TimeSpan.FromMilliseconds(_options.TickIntervalMs);

    /// <summary>
    /// Blocks the driver thread until an input is queued (true) or the inbox is completed (false); in thread mode, also
    /// until the armed tick is due, which it then queues as the timer's callback would. Unlike blocking on the wait's
    /// task, this does not spin (Task.Wait spun in sched_yield before sleeping, at every wake-up).
    /// </summary>
    private bool WaitForInput()
    {
        // The tick fell due while the loop was busy with inputs that kept coming: queue it now.
        if (_ticker is null && MillisecondsUntilTick() == 0) QueueTick();
        ValueTask<bool> wait = _inbox.Reader.WaitToReadAsync();
        if (!wait.IsCompleted)
        {
            _inputArrived.Reset();
            wait.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_inputArrived.Set);
            if (!_inputArrived.Wait(_ticker is null ? MillisecondsUntilTick() : Timeout.Infinite))
            {
                // The tick is due. Queuing it completes the wait (so does completing the inbox, if stopping).
                QueueTick();
                _inputArrived.Wait();
            }
        }
        return wait.GetAwaiter().GetResult();
    }

    private void QueueTick() => _inbox.Writer.TryWrite(new Input.TickInput(_time.GetTimestamp()));

    /// <summary>Thread mode: milliseconds until the armed tick is due, rounded up; 0 when due, infinite when none is armed.</summary>
    private int MillisecondsUntilTick()
    {
        long now = ReadClock();
        if (_tickDueTimestamp == long.MaxValue) return Timeout.Infinite;
        TimeSpan left = _time.GetElapsedTime(now, _tickDueTimestamp);
        return left <= TimeSpan.Zero ? 0 : (int)Math.Min(Math.Ceiling(left.TotalMilliseconds), int.MaxValue);
    }

    /// <summary>Arms the one-shot tick timer to fire after <paramref name="due"/>: the TimeProvider's timer, or in thread mode the driver thread's wait.</summary>
    private void ArmTimer(TimeSpan due)
    {
        if (due < TimeSpan.Zero) due = TimeSpan.Zero;
        if (_ticker is null)
        {
            _tickDueTimestamp = _time.GetTimestamp() + (long)(due.TotalSeconds * _time.TimestampFrequency);
            return;
        }
        try
        {
            _ticker.Change(due, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
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
        // A stamp never lies ahead of the clock read after it, unless the clock went back in between (see ReadClock):
        // such a stamp belongs to the old timeline and would count the jump as elapsed ticks.
        timestamp = Math.Min(timestamp, ReadClock());
        long target = _time.GetElapsedTime(_tickEpoch, timestamp).Ticks / TickInterval.Ticks;
        // The tick the driver expected to be woken by: the armed one, or, once the timer has fired (until ScheduleTick
        // arms it again at the end of the step), the tick just counted; a later input of the same step is measured
        // against that, so a stall between the two is not counted either.
        long expected = _armedTick != long.MaxValue ? _armedTick : _ticksElapsed;
        if (target > expected + LateTicksCounted)
        {
            long dropped = target - (expected + LateTicksCounted);
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

    /// <summary>How many times the driver found its clock had gone back, for tests.</summary>
    internal long ClockJumpsBack => Interlocked.Read(ref _clockJumpsBack);

    /// <summary>
    /// Reads the clock, and when it reads earlier than the driver's previous reading, moves every deadline the driver
    /// keeps as a timestamp (the tick epoch, the armed tick, the start of each waiting read) back by as much.
    /// <para>A monotonic clock never goes back, but CLOCK_MONOTONIC faked by libfaketime (the chaos harness's clock
    /// fault) does, and a deadline left in the old timeline then lies as far in the future as the clock jumped: the
    /// driver would sleep that long and the core would not tick, so a leader sends no heartbeats and a follower neither
    /// campaigns nor grants pre-votes (its leader seems alive). Rebasing loses at most the real time between the two
    /// readings (one wait, at most <see cref="MaxSleepTicks"/> ticks); the core's tick count never goes back.</para>
    /// </summary>
    private long ReadClock()
    {
        long now = _time.GetTimestamp();
        long previous = _clock;
        _clock = now;
        if (now >= previous || previous == long.MinValue) return now;
        long back = previous - now;
        _tickEpoch -= back;
        if (_tickDueTimestamp != long.MaxValue) _tickDueTimestamp -= back;
        foreach ((ulong id, (TaskCompletionSource<ulong> done, long start)) in _reads.ToArray()) _reads[id] = (done, start - back);
        Interlocked.Increment(ref _clockJumpsBack);
        NodeLog.ClockWentBack(_logger, TimeSpan.FromSeconds(back / (double)_time.TimestampFrequency).TotalMilliseconds);
        return now;
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
        ArmTimer(TickInterval * next - _time.GetElapsedTime(_tickEpoch, ReadClock()) + TimeSpan.FromMilliseconds(1));
    }
}
