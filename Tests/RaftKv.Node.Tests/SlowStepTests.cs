using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using RaftKv.Raft;

namespace RaftKv.Node.Tests;

/// <summary>
/// A driver step that holds the Raft loop for two heartbeat intervals or more is counted (raftkv.raft.slow_steps) and
/// reported (event 1108, at most once per quiet period) with where its time went.
/// </summary>
public sealed class SlowStepTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly FakeLogger _logger = new();
    private readonly TestMeterFactory _meters = new();
    private readonly NodeMetrics _metrics;
    private readonly MetricCollector<long> _slowSteps;

    public SlowStepTests()
    {
        _metrics = new NodeMetrics(7, () => null, _meters);
        _slowSteps = new MetricCollector<long>(_meters, NodeMetrics.MeterName, "raftkv.raft.slow_steps");
    }

    public void Dispose()
    {
        _slowSteps.Dispose();
        _metrics.Dispose();
        _meters.Dispose();
    }

    private IReadOnlyList<FakeLogRecord> Warnings => [.. _logger.Collector.GetSnapshot().Where(r => r.Id.Id == 1108)];

    private long SlowStepsCounted => _slowSteps.GetMeasurementSnapshot().Sum(m => m.Value);

    private SlowStepWatch NewWatch() => new(_time, _logger, nodeId: 7, heartbeatIntervalMs: 100, _metrics);

    /// <summary>One step of <paramref name="totalMs"/>, of which <paramref name="persistMs"/> persisting <paramref name="entries"/> entries.</summary>
    private void Step(SlowStepWatch watch, int totalMs, int persistMs = 0, int entries = 0)
    {
        watch.StepStarted();
        _time.Advance(TimeSpan.FromMilliseconds(persistMs));
        watch.Persisted(TimeSpan.FromMilliseconds(persistMs), entries);
        _time.Advance(TimeSpan.FromMilliseconds(totalMs - persistMs));
        watch.StepEnded(RaftRole.Leader);
    }

    [Fact]
    public void A_step_shorter_than_two_heartbeat_intervals_is_neither_counted_nor_reported()
    {
        SlowStepWatch watch = NewWatch();

        Step(watch, 199, persistMs: 150, entries: 40);

        Assert.Empty(Warnings);
        Assert.Equal(0, SlowStepsCounted);
    }

    [Fact]
    public void A_long_step_is_reported_with_where_its_time_went()
    {
        SlowStepWatch watch = NewWatch();

        Step(watch, 250, persistMs: 180, entries: 12);

        FakeLogRecord warning = Assert.Single(Warnings);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("node 7 (Leader) spent 250 ms in one Raft step: 180 ms persisting 12 entries", warning.Message, StringComparison.Ordinal);
        Assert.Equal(1, SlowStepsCounted);
    }

    [Fact]
    public void Slow_steps_within_the_quiet_period_are_counted_at_once_and_summed_up_by_the_next_warning()
    {
        SlowStepWatch watch = NewWatch();
        Step(watch, 300);
        Step(watch, 900);
        Step(watch, 200);
        Step(watch, 400);
        Assert.Single(Warnings);
        Assert.Equal(4, SlowStepsCounted);

        _time.Advance(TimeSpan.FromSeconds(SlowStepWatch.QuietPeriodSeconds));
        Step(watch, 250);

        Assert.Equal(2, Warnings.Count);
        Assert.Contains("spent 250 ms", Warnings[1].Message, StringComparison.Ordinal);
        Assert.Contains("3 more slow steps since the last such warning; the longest 900 ms", Warnings[1].Message, StringComparison.Ordinal);
        Assert.Equal(5, SlowStepsCounted);
    }

    [Fact]
    public void The_driver_reports_a_step_that_stalled_in_its_middle()
    {
        // Node 2 follows leader 1 and gets one entry; while the step sends its acknowledgement the clock moves 300 ms
        // (as if the thread had been descheduled): the step is slow and says so.
        string directory = Path.Combine(Path.GetTempPath(), "raftkv-node-tests", Guid.NewGuid().ToString("N"));
        try
        {
            // The node's own meters (a MetricCollector follows the first matching instrument it sees: this test's, not the fixture's).
            using var meters = new TestMeterFactory();
            using var slowSteps = new MetricCollector<long>(meters, NodeMetrics.MeterName, "raftkv.raft.slow_steps");
            using var node = new SteppedNode(directory, _time, new RaftDriverSeams { RandomSeed = 7 }, e => throw new InvalidOperationException("fatal", e),
                logger: _logger, meters: meters);
            node.Driver.OnMessage(new Message
            {
                Type = MessageType.AppendEntries, From = 1, To = 2, Term = 1, LogIndex = 0, LogTerm = 0,
                Entries = [new LogEntry(1, 1, EntryType.NoOp, ReadOnlyMemory<byte>.Empty)],
            });
            node.OnSend = _ => _time.Advance(TimeSpan.FromMilliseconds(300));

            node.Driver.RunOnce();

            Assert.Contains(node.Sent, m => m.Type == MessageType.AppendEntriesResponse);
            FakeLogRecord warning = Assert.Single(Warnings);
            Assert.Contains("node 2 (Follower) spent", warning.Message, StringComparison.Ordinal);
            Assert.Contains("persisting 1 entries", warning.Message, StringComparison.Ordinal);
            Assert.Equal(1, slowSteps.GetMeasurementSnapshot().Sum(m => m.Value));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Meters scoped to one test, so <see cref="MetricCollector{T}"/> sees only this test's node.</summary>
    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            lock (_meters) _meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            lock (_meters)
            {
                foreach (Meter meter in _meters) meter.Dispose();
                _meters.Clear();
            }
        }
    }
}
