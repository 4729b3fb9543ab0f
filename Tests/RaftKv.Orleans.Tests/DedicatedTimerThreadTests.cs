using System.Collections.Concurrent;
using System.Diagnostics;
using RaftKv.Silo;

namespace RaftKv.Orleans.Tests;

/// <summary>
/// The silo's <see cref="TimeProvider"/> (<see cref="DedicatedTimerThread"/>) keeps the contract of
/// <see cref="System.Threading.Timer"/> that Orleans' timers, delays and cancellation timeouts rely on.
/// </summary>
public sealed class DedicatedTimerThreadTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_one_shot_timer_fires_once_not_before_its_due_time_on_a_thread_pool_thread()
    {
        using var time = new DedicatedTimerThread();
        var fired = new ConcurrentQueue<(TimeSpan At, bool OnThreadPool)>();
        var clock = Stopwatch.StartNew();
        using ITimer timer = time.CreateTimer(_ => fired.Enqueue((clock.Elapsed, Thread.CurrentThread.IsThreadPoolThread)), null,
            TimeSpan.FromMilliseconds(50), Timeout.InfiniteTimeSpan);

        await WaitUntilAsync(() => !fired.IsEmpty, "the timer fires");
        await Task.Delay(200);
        (TimeSpan at, bool onThreadPool) = Assert.Single(fired);
        Assert.True(at >= TimeSpan.FromMilliseconds(50), $"fired after {at.TotalMilliseconds} ms");
        Assert.True(onThreadPool);
    }

    [Fact]
    public async Task Timers_armed_before_the_clock_goes_back_fire_on_time_not_that_much_later()
    {
        // libfaketime (the chaos harness's clock fault) moves CLOCK_MONOTONIC back; Orleans' probes must not stop for it.
        long offset = 0;
        using var time = new DedicatedTimerThread("test-timers", () => Stopwatch.GetTimestamp() + Interlocked.Read(ref offset));
        int oneShot = 0, periodic = 0;
        using ITimer once = time.CreateTimer(_ => Interlocked.Increment(ref oneShot), null, TimeSpan.FromMilliseconds(300), Timeout.InfiniteTimeSpan);
        using ITimer every = time.CreateTimer(_ => Interlocked.Increment(ref periodic), null, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(20));
        Interlocked.Add(ref offset, -60 * Stopwatch.Frequency); // before either is due

        var clock = Stopwatch.StartNew();
        await WaitUntilAsync(() => Volatile.Read(ref oneShot) == 1 && Volatile.Read(ref periodic) >= 5, "both timers fire");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"fired after {clock.Elapsed.TotalSeconds:F1} s");
        // The provider's own timestamps follow its clock, as Orleans measures elapsed time with them.
        Assert.InRange(time.GetTimestamp() - Stopwatch.GetTimestamp(), -61 * Stopwatch.Frequency, -59 * Stopwatch.Frequency);
    }

    [Fact]
    public async Task A_periodic_timer_keeps_firing_until_it_is_stopped_by_Change_or_Dispose()
    {
        using var time = new DedicatedTimerThread();
        int count = 0;
        ITimer timer = time.CreateTimer(_ => Interlocked.Increment(ref count), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(10));
        await WaitUntilAsync(() => Volatile.Read(ref count) >= 5, "five periods");

        Assert.True(timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        int stopped = await CountAfterQueuedCallbacksRanAsync(() => Volatile.Read(ref count));
        await Task.Delay(200);
        Assert.Equal(stopped, Volatile.Read(ref count));

        Assert.True(timer.Change(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(10)));
        await WaitUntilAsync(() => Volatile.Read(ref count) >= stopped + 5, "five more periods after re-arming");
        await timer.DisposeAsync();
        Assert.False(timer.Change(TimeSpan.Zero, TimeSpan.FromMilliseconds(10)));
        int disposed = await CountAfterQueuedCallbacksRanAsync(() => Volatile.Read(ref count));
        await Task.Delay(200);
        Assert.Equal(disposed, Volatile.Read(ref count));
    }

    [Fact]
    public async Task Rearming_a_timer_earlier_wakes_the_thread_and_later_postpones_it()
    {
        using var time = new DedicatedTimerThread();
        var early = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using ITimer sleeper = time.CreateTimer(_ => { }, null, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan); // the thread sleeps for an hour
        using ITimer timer = time.CreateTimer(_ => early.TrySetResult(), null, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
        Assert.True(timer.Change(TimeSpan.FromMilliseconds(20), Timeout.InfiniteTimeSpan));
        await early.Task.WaitAsync(Deadline);

        int late = 0;
        using ITimer postponed = time.CreateTimer(_ => Interlocked.Increment(ref late), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        Assert.True(postponed.Change(TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan));
        await Task.Delay(1_500);
        Assert.Equal(0, Volatile.Read(ref late));
    }

    [Fact]
    public async Task Callbacks_run_in_the_creators_execution_context_unless_its_flow_is_suppressed()
    {
        using var time = new DedicatedTimerThread();
        var local = new AsyncLocal<string>();
        local.Value = "creator";
        var flowed = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using ITimer timer = time.CreateTimer(_ => flowed.TrySetResult(local.Value), null, TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
        Assert.Equal("creator", await flowed.Task.WaitAsync(Deadline));

        var suppressed = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        ITimer quiet;
        using (ExecutionContext.SuppressFlow())
        {
            quiet = time.CreateTimer(_ => suppressed.TrySetResult(local.Value), null, TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
        }
        using (quiet)
        {
            Assert.Null(await suppressed.Task.WaitAsync(Deadline));
        }
    }

    [Fact]
    public async Task Timers_created_changed_and_disposed_from_many_threads_at_once_each_fire_exactly_as_last_armed()
    {
        using var time = new DedicatedTimerThread();
        const int Timers = 2_000;
        var fired = new int[Timers];
        var kept = new ConcurrentBag<ITimer>();
        await Parallel.ForAsync(0, Timers, async (i, _) =>
        {
            // Timers that are changed start unarmed, so none can fire before the change (a firing then is correct).
            TimeSpan first = i % 4 == 3 ? TimeSpan.FromMilliseconds(Random.Shared.Next(0, 40)) : Timeout.InfiniteTimeSpan;
            ITimer timer = time.CreateTimer(_ => Interlocked.Increment(ref fired[i]), null, first, Timeout.InfiniteTimeSpan);
            switch (i % 4)
            {
                case 0: // disposed before it can fire
                    timer.Change(TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
                    await timer.DisposeAsync();
                    break;
                case 1: // armed late, then re-armed earlier
                    timer.Change(TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
                    timer.Change(TimeSpan.FromMilliseconds(Random.Shared.Next(0, 40)), Timeout.InfiniteTimeSpan);
                    kept.Add(timer);
                    break;
                case 2: // armed, then stopped
                    timer.Change(TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
                    timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    kept.Add(timer);
                    break;
                default:
                    kept.Add(timer);
                    break;
            }
        });
        await WaitUntilAsync(() => Enumerable.Range(0, Timers).Where(i => i % 4 is 1 or 3).All(i => Volatile.Read(ref fired[i]) == 1), "every armed timer fires");
        await Task.Delay(200);
        Assert.All(Enumerable.Range(0, Timers), i => Assert.Equal(i % 4 is 1 or 3 ? 1 : 0, Volatile.Read(ref fired[i])));
        foreach (ITimer timer in kept) timer.Dispose();
    }

    [Fact]
    public async Task TimeProvider_delays_cancellation_timeouts_and_periodic_timers_work_on_it()
    {
        using var time = new DedicatedTimerThread();
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromMilliseconds(30), time).WaitAsync(Deadline);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(30));

        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(20), time);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.Delay(Timeout.InfiniteTimeSpan, cancellation.Token).WaitAsync(Deadline));

        using var periodic = new PeriodicTimer(TimeSpan.FromMilliseconds(10), time);
        for (int i = 0; i < 3; i++) Assert.True(await periodic.WaitForNextTickAsync().AsTask().WaitAsync(Deadline));
    }

    [Fact]
    public async Task A_timer_due_in_a_quarter_second_or_more_waits_within_its_slack_to_fire_with_another()
    {
        using var time = new DedicatedTimerThread();
        var fired = new ConcurrentDictionary<string, (TimeSpan At, int Thread)>();
        var clock = Stopwatch.StartNew();
        // The 400 ms timer may fire up to 50 ms late; the Precise one comes due 30 ms after it, inside that slack.
        using ITimer coalescable = time.CreateTimer(_ => fired["coalescable"] = (clock.Elapsed, Environment.CurrentManagedThreadId), null,
            TimeSpan.FromMilliseconds(400), Timeout.InfiniteTimeSpan);
        using ITimer precise = time.Precise.CreateTimer(_ => fired["precise"] = (clock.Elapsed, Environment.CurrentManagedThreadId), null,
            TimeSpan.FromMilliseconds(430), Timeout.InfiniteTimeSpan);

        await WaitUntilAsync(() => fired.Count == 2, "both timers fire");
        // It did not fire alone when due: it fired at the other's wake-up, in the same thread-pool work item.
        Assert.True(fired["coalescable"].At >= TimeSpan.FromMilliseconds(430), $"fired alone after {fired["coalescable"].At.TotalMilliseconds} ms");
        Assert.Equal(fired["precise"].Thread, fired["coalescable"].Thread);
    }

    [Fact]
    public async Task A_disposed_provider_fires_nothing_more()
    {
        var time = new DedicatedTimerThread();
        int count = 0;
        ITimer timer = time.CreateTimer(_ => Interlocked.Increment(ref count), null, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100));
        time.Dispose();
        await Task.Delay(1_500);
        Assert.Equal(0, Volatile.Read(ref count));
        Assert.False(timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
    }

    /// <summary>
    /// Callbacks queued before a timer was stopped may still run. The timer thread queues them to the thread pool's
    /// global queue, which is first in, first out: once a work item queued there later has started, they have all
    /// started; and these callbacks only increment a counter.
    /// </summary>
    private static async Task<int> CountAfterQueuedCallbacksRanAsync(Func<int> count)
    {
        for (int i = 0; i < 2; i++)
        {
            var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            ThreadPool.UnsafeQueueUserWorkItem(static m => m.TrySetResult(), marker, preferLocal: false);
            await marker.Task.WaitAsync(Deadline);
        }
        await Task.Delay(20);
        return count();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > Deadline) throw new TimeoutException($"{what} did not happen within {Deadline}");
            await Task.Delay(5);
        }
    }
}
