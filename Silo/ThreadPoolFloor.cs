using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RaftKv.Silo;

/// <summary>
/// Keeps the thread pool's minimum of workers at one while the silo is quiet and at its usual value (the processor
/// count) while it serves traffic.
/// </summary>
/// <remarks>
/// Why: a pool worker that takes a work item asks for one more worker while fewer than the pool's thread goal are
/// working, and the goal starts at the minimum. In an idle silo nearly every timer, heartbeat and probe thus woke two
/// workers, the second to find nothing: perf's sched_wakeup counted ~95 of ~190 thread-pool wake-ups a second per idle
/// silo as workers waking workers, and each costs two context switches. With a minimum of one an idle silo used ~0.25
/// points less of a core (LifecycleBench idle, docs/architecture.md "Idle CPU"). But a minimum of one for the whole
/// run cost the leader its leadership under the cluster benchmark's writes (4 runs of 4): the Raft mesh's sends and
/// receives queue on the pool behind client work, and a pool held at one worker let them wait past the election
/// timeout. So the floor is low only while the pool is quiet: each second it counts the pool's completed work items,
/// and at <see cref="BusyWorkItemsPerSecond"/> or more it restores the usual minimum at once (which raises the pool's
/// thread goal at once); after <see cref="QuietSecondsBeforeLowering"/> seconds in a row under
/// <see cref="QuietWorkItemsPerSecond"/> it lowers it to one again. An idle follower completes ~160 work items a
/// second and an idle leader ~270 (three-silo local cluster, 2026-11-30); a silo serving a hundred requests a second
/// completes well over a thousand.
/// <para>Lowering the minimum does not take threads away: it lets the pool's own goal (hill climbing, starvation
/// detection, blocked-thread compensation) go down to one. The silo executable turns it on (RaftKv:ThreadPool:IdleFloor,
/// default true); TestingHost clusters do not, since the pool is the test process's. An operator who forces the
/// minimum (DOTNET_ThreadPool_ForceMinWorkerThreads) keeps it: the runtime then refuses other minimums.</para>
/// </remarks>
public sealed class ThreadPoolFloor : IHostedService, IDisposable
{
    public const string EnabledSetting = "RaftKv:ThreadPool:IdleFloor";

    /// <summary>How often the pool's completed work items are counted.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(1);

    /// <summary>Work items a second at or above which the usual minimum comes back.</summary>
    public const double BusyWorkItemsPerSecond = 1_000;

    /// <summary>Work items a second under which a second counts as quiet.</summary>
    public const double QuietWorkItemsPerSecond = 500;

    /// <summary>Quiet seconds in a row before the minimum goes down to one.</summary>
    public const int QuietSecondsBeforeLowering = 5;

    /// <summary>Where the floor stands: <see cref="Low"/> (minimum one) or not, and the quiet samples seen in a row.</summary>
    public readonly record struct State(bool Low, int QuietSamples);

    /// <summary>The floor after one sample of <paramref name="workItemsPerSecond"/>: pure, for tests.</summary>
    public static State Next(State state, double workItemsPerSecond)
    {
        if (workItemsPerSecond >= BusyWorkItemsPerSecond) return new State(Low: false, QuietSamples: 0);
        if (workItemsPerSecond >= QuietWorkItemsPerSecond) return state with { QuietSamples = 0 };
        int quiet = state.QuietSamples + 1;
        return new State(state.Low || quiet >= QuietSecondsBeforeLowering, quiet);
    }

    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<long> _completedWorkItems;
    private readonly Func<int, bool> _setMinimumWorkers;
    private readonly int _usualMinimum;
    private readonly object _lock = new();
    private ITimer? _timer;
    private State _state;
    private long _lastCount;
    private long _lastTimestamp;

    public ThreadPoolFloor(TimeProvider time, ILogger<ThreadPoolFloor> logger)
        : this(time, logger, () => ThreadPool.CompletedWorkItemCount, SetMinimumWorkers, UsualMinimumWorkers())
    {
    }

    /// <summary>For tests: the pool's counter and minimum behind delegates.</summary>
    public ThreadPoolFloor(TimeProvider time, ILogger logger, Func<long> completedWorkItems, Func<int, bool> setMinimumWorkers, int usualMinimum)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(completedWorkItems);
        ArgumentNullException.ThrowIfNull(setMinimumWorkers);
        _time = time;
        _logger = logger;
        _completedWorkItems = completedWorkItems;
        _setMinimumWorkers = setMinimumWorkers;
        _usualMinimum = usualMinimum;
    }

    /// <summary>Whether the minimum is one now.</summary>
    public bool IsLow
    {
        get
        {
            lock (_lock) return _state.Low;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_usualMinimum <= 1) return Task.CompletedTask; // one processor: nothing to lower
        lock (_lock)
        {
            _lastCount = _completedWorkItems();
            _lastTimestamp = _time.GetTimestamp();
            _timer = _time.CreateTimer(static floor => ((ThreadPoolFloor)floor!).Sample(), this, SampleInterval, SampleInterval);
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
            // A stopping silo drains requests and hands off leadership: give it the usual pool.
            if (_state.Low && _setMinimumWorkers(_usualMinimum)) _state = default;
        }
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }

    private void Sample()
    {
        lock (_lock)
        {
            if (_timer is null) return;
            long count = _completedWorkItems();
            long now = _time.GetTimestamp();
            double seconds = _time.GetElapsedTime(_lastTimestamp, now).TotalSeconds;
            if (seconds <= 0) return;
            double rate = (count - _lastCount) / seconds;
            _lastCount = count;
            _lastTimestamp = now;
            State next = Next(_state, rate);
            if (next.Low != _state.Low)
            {
                int minimum = next.Low ? 1 : _usualMinimum;
                if (!_setMinimumWorkers(minimum))
                {
                    // The runtime refuses (a forced minimum): leave the pool alone from now on.
                    SiloLog.ThreadPoolFloorRefused(_logger, minimum);
                    _timer.Dispose();
                    _timer = null;
                    return;
                }
                SiloLog.ThreadPoolFloorChanged(_logger, minimum, rate);
            }
            _state = next;
        }
    }

    private static int UsualMinimumWorkers()
    {
        ThreadPool.GetMinThreads(out int workers, out _);
        return workers;
    }

    private static bool SetMinimumWorkers(int workers)
    {
        ThreadPool.GetMinThreads(out _, out int completionPorts);
        return ThreadPool.SetMinThreads(workers, completionPorts);
    }
}
