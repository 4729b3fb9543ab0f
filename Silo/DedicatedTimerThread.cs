using System.Diagnostics;

namespace RaftKv.Silo;

/// <summary>
/// A <see cref="TimeProvider"/> whose timers are kept by one dedicated thread, which sleeps until the next timer must
/// fire on the precise clock and then queues the due callbacks to the thread pool, as <see cref="System.Threading.Timer"/>
/// does. Timestamps and wall-clock time are the system's.
/// </summary>
/// <remarks>
/// Why: on Linux the .NET timer thread computes due times from <see cref="Environment.TickCount64"/>, which is
/// CLOCK_MONOTONIC_COARSE (4 ms resolution on the development machine). It wakes when the kernel's precise timeout
/// ends, finds the timer not yet due by its coarse clock, sleeps 1 ms, often twice more, before it queues the callback;
/// and the thread-pool worker that runs the callback wakes it once more to arm the next timer. An idle silo fires about
/// 18 timers a second through Orleans alone (its thread-pool stall detector every 100 ms, the membership probes, the
/// local health monitor, the response-timeout sweep), so its timer thread woke 60-80 times a second; this thread wakes
/// once per firing. The silo registers it as its <see cref="TimeProvider"/> (Orleans' timers and delays resolve it
/// from DI).
/// <para><b>Coalescing.</b> A timer due in <see cref="CoalesceFrom"/> or more may fire up to an eighth of that interval
/// late (at most <see cref="MaxSlack"/>), so that it shares a wake-up with another timer, as Windows' coalescable
/// timers and Linux's timer slack do: each firing costs the timer thread, a thread-pool worker and the worker that
/// worker wakes in turn a context switch each, and in an idle silo Orleans' timers of half a second and more then ride
/// on the stall detector's 100 ms ticks. Timers that fire at one wake-up run one after another in one thread-pool work
/// item, so a callback must not block (Orleans' and RaftKv's complete a task or queue work). <see cref="Precise"/>
/// gives the same thread's timers without slack, for the Raft node's ticks.</para>
/// <para>Otherwise semantics follow <see cref="System.Threading.Timer"/>: one-shot or periodic (the next period counts
/// from the due time; periods missed while the thread could not run are skipped), callbacks on the thread pool, the
/// creator's <see cref="ExecutionContext"/> unless its flow is suppressed, and <see cref="ITimer.Change"/> and disposal
/// from any thread. A timer that is neither disposed nor referenced keeps firing (the provider holds it while it is
/// armed), like a System.Threading.Timer held by a running callback; Orleans and RaftKv dispose theirs.</para>
/// </remarks>
public sealed class DedicatedTimerThread : TimeProvider, IDisposable
{
    /// <summary>Timers due sooner than this fire on time; the stall detector's 100 ms period is below it.</summary>
    public static readonly TimeSpan CoalesceFrom = TimeSpan.FromMilliseconds(250);

    /// <summary>The most a coalescable timer waits for company.</summary>
    public static readonly TimeSpan MaxSlack = TimeSpan.FromMilliseconds(100);

    // A Monitor (not System.Threading.Lock): the thread sleeps in Monitor.Wait and arming an earlier timer pulses it.
    private readonly object _lock = new();
    // Armed timers by due timestamp. Re-arming or disposing leaves the old entry behind; it is skipped (its version no
    // longer matches) when it comes due, and the queue is rebuilt when such entries outnumber the armed timers.
    private readonly PriorityQueue<(Timer Timer, long Version), long> _due = new();
    private readonly HashSet<Timer> _armed = [];
    private readonly string _threadName;
    private Thread? _thread;
    // The due timestamp the thread sleeps until (long.MaxValue: no timer armed); an earlier timer wakes it.
    private long _sleepingUntil = long.MaxValue;
    private bool _disposed;
    // The clock (Stopwatch.GetTimestamp; a stepped one in tests) and its latest reading, under _lock (see Now).
    private readonly Func<long> _clock;
    private long _lastNow = long.MinValue;
    // Under _lock: the timers firing at the current wake-up.
    private readonly List<Timer> _firing = [];

    public DedicatedTimerThread(string threadName = "raftkv-timers") : this(threadName, Stopwatch.GetTimestamp)
    {
    }

    /// <summary>Timers on <paramref name="clock"/> (timestamps in <see cref="Stopwatch.Frequency"/> units) instead of the system's: for tests.</summary>
    public DedicatedTimerThread(string threadName, Func<long> clock)
    {
        ArgumentException.ThrowIfNullOrEmpty(threadName);
        ArgumentNullException.ThrowIfNull(clock);
        _threadName = threadName;
        _clock = clock;
        Precise = new PreciseTimers(this);
    }

    /// <summary>The same thread's timers without coalescing: each fires as soon as it is due.</summary>
    public TimeProvider Precise { get; }

    public override long GetTimestamp() => _clock();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        Create(callback, state, dueTime, period, coalescable: true);

    private Timer Create(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period, bool coalescable)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new Timer(this, callback, state, ExecutionContext.Capture(), coalescable);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Stops the thread; armed timers never fire again.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _due.Clear();
            _armed.Clear();
            Monitor.PulseAll(_lock);
        }
    }

    private static long ToTimestampTicks(TimeSpan span) =>
        (long)Math.Min(span.Ticks * (double)Stopwatch.Frequency / TimeSpan.TicksPerSecond, long.MaxValue / 4);

    private bool Change(Timer timer, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dueTime, Timeout.InfiniteTimeSpan);
        ArgumentOutOfRangeException.ThrowIfLessThan(period, Timeout.InfiniteTimeSpan);
        lock (_lock)
        {
            if (_disposed || timer.Disposed) return false;
            timer.Version++;
            timer.PeriodTicks = period == Timeout.InfiniteTimeSpan || period == TimeSpan.Zero ? 0 : ToTimestampTicks(period);
            timer.PeriodSlackTicks = timer.PeriodTicks == 0 ? 0 : SlackTicks(timer, period);
            timer.SlackTicks = dueTime == Timeout.InfiniteTimeSpan ? 0 : SlackTicks(timer, dueTime);
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                _armed.Remove(timer);
                return true;
            }
            Arm(timer, Now() + ToTimestampTicks(dueTime));
            return true;
        }
    }

    private static long SlackTicks(Timer timer, TimeSpan interval) =>
        timer.Coalescable && interval >= CoalesceFrom ? ToTimestampTicks(TimeSpan.FromTicks(Math.Min(interval.Ticks / 8, MaxSlack.Ticks))) : 0;

    private void Dispose(Timer timer)
    {
        lock (_lock)
        {
            timer.Disposed = true;
            timer.Version++;
            _armed.Remove(timer);
        }
    }

    // Under _lock.
    private void Arm(Timer timer, long due)
    {
        _armed.Add(timer);
        _due.Enqueue((timer, timer.Version), due);
        if (_due.Count > 2 * _armed.Count + 64) RebuildQueue();
        if (due + timer.SlackTicks >= _sleepingUntil) return;
        if (_thread is null)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = _threadName };
            _thread.Start();
        }
        else
        {
            Monitor.Pulse(_lock);
        }
    }

    /// <summary>
    /// Under _lock: reads the clock. A monotonic clock never goes back, but one faked by libfaketime (the chaos
    /// harness's clock fault) does; due times armed before such a jump would then lie that much further away, and
    /// Orleans' membership probes, among others, would stop for the length of the jump (enough to get the silo declared
    /// dead). So when a reading is earlier than the previous one, every due time moves back by as much.
    /// </summary>
    private long Now()
    {
        long now = _clock();
        long previous = _lastNow;
        _lastNow = now;
        if (now >= previous || previous == long.MinValue) return now;
        long back = previous - now;
        var shifted = new List<((Timer, long), long)>(_due.Count);
        while (_due.TryDequeue(out (Timer Timer, long Version) entry, out long due)) shifted.Add((entry, due - back));
        _due.EnqueueRange(shifted);
        return now;
    }

    // Under _lock: drops the entries of timers re-armed or disposed since.
    private void RebuildQueue()
    {
        var live = new List<((Timer, long), long)>(_armed.Count);
        while (_due.TryDequeue(out (Timer Timer, long Version) entry, out long due))
        {
            if (entry.Version == entry.Timer.Version && _armed.Contains(entry.Timer)) live.Add((entry, due));
        }
        _due.EnqueueRange(live);
    }

    private void Run()
    {
        lock (_lock)
        {
            while (!_disposed)
            {
                long now = Now();
                // Everything due fires now, including coalescable timers still within their slack.
                while (_due.TryPeek(out (Timer Timer, long Version) entry, out long due) && due <= now)
                {
                    _due.Dequeue();
                    Timer timer = entry.Timer;
                    if (entry.Version != timer.Version || !_armed.Contains(timer)) continue;
                    if (timer.PeriodTicks > 0)
                    {
                        // Periods missed while this thread could not run are skipped, as System.Threading.Timer does.
                        long next = due + timer.PeriodTicks;
                        timer.SlackTicks = timer.PeriodSlackTicks;
                        _due.Enqueue((timer, timer.Version), next > now ? next : now + timer.PeriodTicks);
                    }
                    else
                    {
                        _armed.Remove(timer);
                    }
                    _firing.Add(timer);
                }
                if (_firing.Count == 1) ThreadPool.UnsafeQueueUserWorkItem(_firing[0], preferLocal: false);
                else if (_firing.Count > 1) ThreadPool.UnsafeQueueUserWorkItem(new FiringTogether([.. _firing]), preferLocal: false);
                _firing.Clear();

                // Sleep until the first timer runs out of slack (a few dozen armed timers: a scan is cheap).
                long wake = long.MaxValue;
                foreach (((Timer Timer, long Version) entry, long due) in _due.UnorderedItems)
                {
                    if (entry.Version == entry.Timer.Version && _armed.Contains(entry.Timer)) wake = Math.Min(wake, due + entry.Timer.SlackTicks);
                }
                _sleepingUntil = wake;
                if (wake == long.MaxValue)
                {
                    Monitor.Wait(_lock);
                }
                else
                {
                    // Rounded up: waking a little late fires the timer; waking early would only sleep again.
                    double milliseconds = Math.Ceiling((wake - now) * 1000.0 / Stopwatch.Frequency);
                    Monitor.Wait(_lock, (int)Math.Clamp(milliseconds, 0, int.MaxValue - 1));
                }
            }
        }
    }

    /// <summary>Timers that fired at one wake-up: one thread-pool work item (one worker woken) runs them in turn.</summary>
    private sealed class FiringTogether(Timer[] timers) : IThreadPoolWorkItem
    {
        public void Execute()
        {
            foreach (IThreadPoolWorkItem timer in timers) timer.Execute();
        }
    }

    private sealed class PreciseTimers(DedicatedTimerThread owner) : TimeProvider
    {
        public override long GetTimestamp() => owner.GetTimestamp();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            owner.Create(callback, state, dueTime, period, coalescable: false);
    }

    private sealed class Timer(DedicatedTimerThread owner, TimerCallback callback, object? state, ExecutionContext? context, bool coalescable)
        : ITimer, IThreadPoolWorkItem
    {
        public bool Coalescable { get; } = coalescable;

        private static readonly ContextCallback RunCallback = static timer => ((Timer)timer!).Invoke();

        // Guarded by the owner's lock.
        public long Version;
        public long PeriodTicks;
        // How late it may fire to share a wake-up: for its current due time, and for each later period.
        public long SlackTicks;
        public long PeriodSlackTicks;
        public bool Disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period) => owner.Change(this, dueTime, period);

        public void Dispose() => owner.Dispose(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        void IThreadPoolWorkItem.Execute()
        {
            if (context is null) Invoke();
            else ExecutionContext.Run(context, RunCallback, this);
        }

        private void Invoke() => callback(state);
    }
}
