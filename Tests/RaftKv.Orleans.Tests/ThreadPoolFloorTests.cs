using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RaftKv.Silo;

namespace RaftKv.Orleans.Tests;

/// <summary>
/// The silo's idle thread-pool floor (<see cref="ThreadPoolFloor"/>): a minimum of one worker only after quiet seconds in
/// a row, the usual minimum back at the first busy second. The pool itself sits behind delegates here (it is the test
/// process's); the floor's effect on idle CPU is measured by LifecycleBench idle.
/// </summary>
public sealed class ThreadPoolFloorTests
{
    private const double Idle = 200;
    private const double Between = 700;
    private const double Busy = 5_000;

    [Fact]
    public void The_floor_goes_low_only_after_enough_quiet_seconds_in_a_row()
    {
        var state = new ThreadPoolFloor.State();
        for (int i = 1; i < ThreadPoolFloor.QuietSecondsBeforeLowering; i++)
        {
            state = ThreadPoolFloor.Next(state, Idle);
            Assert.False(state.Low, $"low after {i} quiet seconds");
        }
        state = ThreadPoolFloor.Next(state, Between); // a second neither quiet nor busy starts the count again
        Assert.False(state.Low);
        for (int i = 1; i < ThreadPoolFloor.QuietSecondsBeforeLowering; i++) state = ThreadPoolFloor.Next(state, Idle);
        Assert.False(state.Low);
        state = ThreadPoolFloor.Next(state, Idle);
        Assert.True(state.Low);
    }

    [Fact]
    public void One_busy_second_restores_the_usual_minimum_and_an_in_between_one_keeps_the_floor_where_it_is()
    {
        var low = new ThreadPoolFloor.State(Low: true, QuietSamples: 9);
        Assert.True(ThreadPoolFloor.Next(low, Between).Low);
        Assert.Equal(0, ThreadPoolFloor.Next(low, Between).QuietSamples);
        Assert.Equal(new ThreadPoolFloor.State(Low: false, QuietSamples: 0), ThreadPoolFloor.Next(low, ThreadPoolFloor.BusyWorkItemsPerSecond));
        Assert.True(ThreadPoolFloor.Next(low, ThreadPoolFloor.QuietWorkItemsPerSecond - 1).Low);
    }

    [Fact]
    public async Task The_service_sets_the_minimum_from_the_rate_of_completed_work_items_and_restores_it_on_stop()
    {
        var time = new FakeTimeProvider();
        long completed = 0;
        var minimums = new List<int>();
        using var floor = new ThreadPoolFloor(time, NullLogger.Instance, () => completed, m => { minimums.Add(m); return true; }, usualMinimum: 4);
        await floor.StartAsync(CancellationToken.None);

        for (int second = 1; second <= ThreadPoolFloor.QuietSecondsBeforeLowering; second++)
        {
            completed += 200;
            time.Advance(ThreadPoolFloor.SampleInterval);
        }
        Assert.Equal([1], minimums);
        Assert.True(floor.IsLow);

        completed += 300; // half of it over two seconds: 150 a second, still quiet
        time.Advance(ThreadPoolFloor.SampleInterval * 2);
        Assert.Equal([1], minimums);

        completed += 2_000;
        time.Advance(ThreadPoolFloor.SampleInterval);
        Assert.Equal([1, 4], minimums);
        Assert.False(floor.IsLow);

        for (int second = 1; second <= ThreadPoolFloor.QuietSecondsBeforeLowering; second++)
        {
            completed += 10;
            time.Advance(ThreadPoolFloor.SampleInterval);
        }
        Assert.Equal([1, 4, 1], minimums);

        await floor.StopAsync(CancellationToken.None);
        Assert.Equal([1, 4, 1, 4], minimums);
        AdvanceSeconds(time, 10);
        Assert.Equal([1, 4, 1, 4], minimums);
    }

    [Fact]
    public async Task A_refused_minimum_leaves_the_pool_alone_and_one_processor_never_touches_it()
    {
        var time = new FakeTimeProvider();
        int calls = 0;
        using (var refused = new ThreadPoolFloor(time, NullLogger.Instance, () => 0, _ => { calls++; return false; }, usualMinimum: 2))
        {
            await refused.StartAsync(CancellationToken.None);
            AdvanceSeconds(time, ThreadPoolFloor.QuietSecondsBeforeLowering * 3);
            Assert.Equal(1, calls);
            Assert.False(refused.IsLow);
            await refused.StopAsync(CancellationToken.None);
            Assert.Equal(1, calls);
        }

        calls = 0;
        using var single = new ThreadPoolFloor(time, NullLogger.Instance, () => 0, _ => { calls++; return true; }, usualMinimum: 1);
        await single.StartAsync(CancellationToken.None);
        AdvanceSeconds(time, ThreadPoolFloor.QuietSecondsBeforeLowering * 3);
        await single.StopAsync(CancellationToken.None);
        Assert.Equal(0, calls);
    }

    // One sample at a time: FakeTimeProvider fires a periodic timer once per Advance, however far it goes.
    private static void AdvanceSeconds(FakeTimeProvider time, int seconds)
    {
        for (int i = 0; i < seconds; i++) time.Advance(ThreadPoolFloor.SampleInterval);
    }
}
