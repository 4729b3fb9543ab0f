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
    private readonly Counter<long> _appliedEntries;
    private readonly Histogram<double> _persistSeconds;
    private readonly Histogram<long> _persistEntries;
    private readonly Histogram<double> _readIndexSeconds;
    private readonly Histogram<double> _snapshotSeconds;
    private readonly Histogram<long> _snapshotBytes;

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
        _proposals = _meter.CreateCounter<long>("raftkv.raft.proposals", description: "Proposals by outcome (accepted, not_leader, dropped).");
        _elections = _meter.CreateCounter<long>("raftkv.raft.elections", description: "Campaigns this node started (became candidate).");
        _appliedEntries = _meter.CreateCounter<long>("raftkv.raft.applied_entries", description: "Log entries applied to the state machine.");
        _persistSeconds = _meter.CreateHistogram<double>("raftkv.raft.persist.duration", unit: "s",
            description: "WAL append and fsync of one Ready (hard state and entries).");
        _persistEntries = _meter.CreateHistogram<long>("raftkv.raft.persist.entries", description: "Entries made durable by one fsync (group commit size).");
        _readIndexSeconds = _meter.CreateHistogram<double>("raftkv.raft.read_index.duration", unit: "s",
            description: "From the driver taking a linearizable read to its read index being applied locally.");
        _snapshotSeconds = _meter.CreateHistogram<double>("raftkv.raft.snapshot.duration", unit: "s", description: "Writing a state machine snapshot.");
        _snapshotBytes = _meter.CreateHistogram<long>("raftkv.raft.snapshot.size", unit: "By", description: "Size of a written snapshot.");
    }

    internal void Proposed(string outcome) => _proposals.Add(1, _node, new("outcome", outcome));

    internal void CampaignStarted() => _elections.Add(1, _node);

    internal void Applied(int entries) => _appliedEntries.Add(entries, _node);

    internal void Persisted(TimeSpan elapsed, int entries)
    {
        _persistSeconds.Record(elapsed.TotalSeconds, _node);
        _persistEntries.Record(entries, _node);
    }

    internal void ReadServed(TimeSpan elapsed) => _readIndexSeconds.Record(elapsed.TotalSeconds, _node);

    internal void SnapshotWritten(TimeSpan elapsed, long bytes)
    {
        _snapshotSeconds.Record(elapsed.TotalSeconds, _node);
        _snapshotBytes.Record(bytes, _node);
    }

    public void Dispose() => _meter.Dispose();
}
