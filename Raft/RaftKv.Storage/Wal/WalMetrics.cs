using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RaftKv.Storage.Wal;

/// <summary>
/// The WAL's meters (meter <see cref="MeterName"/>): how long writing a batch and making it durable take, bytes
/// written, and segment files. Every instrument carries the tags given at construction (the node runtime passes its
/// node id), so several logs in one process stay apart. Recorded on the WAL's own thread; a WAL opened without one
/// records nothing.
/// </summary>
public sealed class WalMetrics : IDisposable
{
    public const string MeterName = "RaftKv.Storage";

    private static readonly double[] SecondsBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Meter _meter;
    private readonly TagList _tags;
    private readonly Histogram<double> _writeSeconds;
    private readonly Histogram<double> _fsyncSeconds;
    private readonly Counter<long> _writtenBytes;
    private readonly Counter<long> _segmentsCreated;
    private readonly Counter<long> _segmentsDeleted;
    private volatile Func<int>? _segmentCount;

    public WalMetrics(IEnumerable<KeyValuePair<string, object?>> tags, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(tags);
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _tags = new TagList([.. tags]);
        _writeSeconds = _meter.CreateHistogram("raftkv.wal.write.duration", unit: "s",
            description: "Writing one batch of WAL records to its segment file, before the fsync.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _fsyncSeconds = _meter.CreateHistogram("raftkv.wal.fsync.duration", unit: "s",
            description: "One fsync of a WAL segment (plus the directory's, when a segment was created or deleted).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _writtenBytes = _meter.CreateCounter<long>("raftkv.wal.written", unit: "By", description: "Bytes of WAL records written.");
        _segmentsCreated = _meter.CreateCounter<long>("raftkv.wal.segments.created", unit: "{segment}", description: "WAL segment files created.");
        _segmentsDeleted = _meter.CreateCounter<long>("raftkv.wal.segments.deleted", unit: "{segment}",
            description: "WAL segment files deleted (compaction below a snapshot, or a truncated suffix).");
        _meter.CreateObservableGauge("raftkv.wal.segments", ObserveSegments, unit: "{segment}", description: "WAL segment files in use.");
    }

    /// <summary>The log whose segments the gauge counts; the WAL sets it when it opens.</summary>
    internal void Attach(Func<int> segmentCount) => _segmentCount = segmentCount;

    internal void Written(long startTimestamp, int bytes)
    {
        _writeSeconds.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, _tags);
        _writtenBytes.Add(bytes, _tags);
    }

    internal void Synced(long startTimestamp) => _fsyncSeconds.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, _tags);

    internal void SegmentCreated() => _segmentsCreated.Add(1, _tags);

    internal void SegmentDeleted() => _segmentsDeleted.Add(1, _tags);

    private IEnumerable<Measurement<int>> ObserveSegments()
    {
        if (_segmentCount is { } count) yield return new Measurement<int>(count(), _tags);
    }

    public void Dispose() => _meter.Dispose();
}
