using System.Diagnostics.Metrics;
using RaftKv.Raft;

namespace RaftKv.Node;

/// <summary>
/// The node's meters (System.Diagnostics.Metrics, meter <see cref="MeterName"/>): Raft state as observable gauges read
/// from the driver's published status, and counters and histograms recorded by the driver thread. Every instrument
/// carries the node id as a tag, so several nodes in one process (tests) stay apart. Hosts export them (the silo
/// serves them in Prometheus text format).
/// </summary>
public sealed class NodeMetrics : IDisposable
{
    public const string MeterName = "RaftKv.Node";

    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?> _node;
    private readonly Counter<long> _proposals;
    private readonly Counter<long> _elections;
    private readonly Counter<long> _slowSteps;
    private readonly Counter<long> _appliedEntries;
    private readonly Histogram<double> _persistSeconds;
    private readonly Histogram<long> _persistEntries;
    private readonly Histogram<double> _readIndexSeconds;
    private readonly Histogram<double> _snapshotSeconds;
    private readonly Histogram<long> _snapshotBytes;
    private readonly Histogram<double> _applySeconds;
    private readonly Histogram<double> _checkpointSeconds;
    private readonly Counter<long> _checkpointFailures;
    private volatile NodeSample? _sample;

    /// <summary>Bucket bounds for durations in seconds: 50 µs to 10 s (the exporter's defaults are meant for milliseconds).</summary>
    internal static readonly IReadOnlyList<double> SecondsBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Bucket bounds for counts of entries per batch: powers of two to 16384.</summary>
    internal static readonly IReadOnlyList<long> CountBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

    /// <summary>Bucket bounds for sizes in bytes: powers of four, 1 KiB to 4 GiB.</summary>
    internal static readonly IReadOnlyList<long> ByteBuckets =
        [1L << 10, 1L << 12, 1L << 14, 1L << 16, 1L << 18, 1L << 20, 1L << 22, 1L << 24, 1L << 26, 1L << 28, 1L << 30, 1L << 32];

    public NodeMetrics(ulong nodeId, Func<RaftStatus?> status, IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _node = new("node_id", (long)nodeId);
        KeyValuePair<string, object?> node = _node;
        Measurement<long>[] Observe(Func<RaftStatus, ulong> value) =>
            status() is { } s ? [new Measurement<long>((long)value(s), node)] : [];

        _meter.CreateObservableGauge("raftkv.raft.term", () => Observe(s => s.Term), description: "Current Raft term.");
        _meter.CreateObservableGauge("raftkv.raft.role", () => Observe(s => (ulong)s.Role),
            description: "Raft role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader (RaftRole).");
        _meter.CreateObservableGauge("raftkv.raft.leader", () => Observe(s => s.Leader), description: "Node id of the known leader (0: none).");
        _meter.CreateObservableGauge("raftkv.raft.commit_index", () => Observe(s => s.CommitIndex), description: "Highest log index known committed.");
        _meter.CreateObservableGauge("raftkv.raft.applied_index", () => Observe(s => s.AppliedIndex), description: "Highest log index applied to the state machine.");
        _meter.CreateObservableGauge("raftkv.raft.last_index", () => Observe(s => s.LastIndex), description: "Last index in the local log.");
        _meter.CreateObservableGauge("raftkv.raft.snapshot_index", () => Observe(s => s.SnapshotIndex), description: "Index the log is compacted through.");
        _meter.CreateObservableGauge("raftkv.raft.voters", () => Observe(s => (ulong)s.Configuration.Voters.Count), description: "Voters in the configuration.");
        _meter.CreateObservableGauge("raftkv.raft.replication.lag", ObserveLag, unit: "{entry}",
            description: "Leader only, per follower (follower_id): entries in the leader's log the follower is not known to hold (last index - match index).");
        _meter.CreateObservableGauge("raftkv.raft.replication.match_index", ObserveMatch,
            description: "Leader only, per follower (follower_id): highest log index known replicated on the follower.");
        _meter.CreateObservableGauge("raftkv.state_machine.sessions", () => ObserveSample(s => s.Sessions), unit: "{session}",
            description: "Live client sessions in the replicated session table.");
        _meter.CreateObservableGauge("raftkv.state_machine.log.size", () => ObserveSample(s => s.StateMachineLogBytes), unit: "By",
            description: "Bytes in FASTER's hybrid log (memory and disk) holding the applied key-value state.");
        _proposals = _meter.CreateCounter<long>("raftkv.raft.proposals", description: "Proposals by outcome (accepted, not_leader, dropped).");
        _elections = _meter.CreateCounter<long>("raftkv.raft.elections", description: "Campaigns this node started (became candidate).");
        _slowSteps = _meter.CreateCounter<long>("raftkv.raft.slow_steps",
            description: "Driver steps that held the Raft loop for two heartbeat intervals or more (log event 1108 says where the time went).");
        _appliedEntries = _meter.CreateCounter<long>("raftkv.raft.applied_entries", description: "Log entries applied to the state machine.");
        _persistSeconds = _meter.CreateHistogram("raftkv.raft.persist.duration", unit: "s",
            description: "WAL append and fsync of one Ready (hard state and entries); raftkv.wal.* splits write and fsync.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _persistEntries = _meter.CreateHistogram("raftkv.raft.persist.entries", unit: "{entry}",
            description: "Entries made durable by one fsync (group commit size).",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = CountBuckets });
        _readIndexSeconds = _meter.CreateHistogram("raftkv.raft.read_index.duration", unit: "s",
            description: "From the driver taking a linearizable read to its read index being applied locally.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _snapshotSeconds = _meter.CreateHistogram("raftkv.raft.snapshot.duration", unit: "s",
            description: "Writing a state machine snapshot (kind=written) or restoring the state machine from one received from the leader (kind=installed).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _snapshotBytes = _meter.CreateHistogram("raftkv.raft.snapshot.size", unit: "By",
            description: "Size of a snapshot written (kind=written) or installed (kind=installed).",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = ByteBuckets });
        _applySeconds = _meter.CreateHistogram("raftkv.state_machine.apply.duration", unit: "s",
            description: "Applying the committed entries of one Ready to FASTER.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _checkpointSeconds = _meter.CreateHistogram("raftkv.state_machine.checkpoint.duration", unit: "s",
            description: "A FASTER checkpoint, from taking the cut to its being durable.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _checkpointFailures = _meter.CreateCounter<long>("raftkv.state_machine.checkpoint.failures", description: "FASTER checkpoints that failed or were refused.");
    }

    private IEnumerable<Measurement<long>> ObserveLag()
    {
        if (_sample is not { } sample) yield break;
        foreach ((ulong follower, ulong match) in sample.Matches)
        {
            yield return new Measurement<long>((long)(sample.LastIndex - Math.Min(match, sample.LastIndex)), _node, new("follower_id", (long)follower));
        }
    }

    private IEnumerable<Measurement<long>> ObserveMatch()
    {
        if (_sample is not { } sample) yield break;
        foreach ((ulong follower, ulong match) in sample.Matches)
        {
            yield return new Measurement<long>((long)match, _node, new("follower_id", (long)follower));
        }
    }

    private Measurement<long>[] ObserveSample(Func<NodeSample, long> value) => _sample is { } s ? [new Measurement<long>(value(s), _node)] : [];

    /// <summary>What the driver thread publishes for the gauges that read state only it may touch; null: the node is stopped.</summary>
    internal void Publish(NodeSample? sample) => _sample = sample;

    internal void Proposed(string outcome) => _proposals.Add(1, _node, new("outcome", outcome));

    internal void CampaignStarted() => _elections.Add(1, _node);

    internal void SlowStep() => _slowSteps.Add(1, _node);

    internal void Applied(int entries) => _appliedEntries.Add(entries, _node);

    internal void Persisted(TimeSpan elapsed, int entries)
    {
        _persistSeconds.Record(elapsed.TotalSeconds, _node);
        _persistEntries.Record(entries, _node);
    }

    internal void ReadServed(TimeSpan elapsed) => _readIndexSeconds.Record(elapsed.TotalSeconds, _node);

    internal void SnapshotWritten(TimeSpan elapsed, long bytes)
    {
        _snapshotSeconds.Record(elapsed.TotalSeconds, _node, new("kind", "written"));
        _snapshotBytes.Record(bytes, _node, new("kind", "written"));
    }

    internal void SnapshotInstalled(TimeSpan elapsed, long bytes)
    {
        _snapshotSeconds.Record(elapsed.TotalSeconds, _node, new("kind", "installed"));
        _snapshotBytes.Record(bytes, _node, new("kind", "installed"));
    }

    internal void AppliedBatch(TimeSpan elapsed) => _applySeconds.Record(elapsed.TotalSeconds, _node);

    internal void CheckpointFinished(TimeSpan elapsed, bool succeeded)
    {
        if (succeeded) _checkpointSeconds.Record(elapsed.TotalSeconds, _node);
        else _checkpointFailures.Add(1, _node);
    }

    public void Dispose() => _meter.Dispose();
}

/// <summary>
/// State only the driver thread may read, copied out for the gauges at every heartbeat interval.
/// <see cref="Matches"/> is the leader's view of each follower (empty on a follower).
/// </summary>
internal sealed record NodeSample(ulong LastIndex, IReadOnlyList<KeyValuePair<ulong, ulong>> Matches, long Sessions, long StateMachineLogBytes);
