using System.Globalization;
using RaftKv.TestingHost;

namespace RaftKv.Benchmarks;

/// <summary>
/// The silos' Prometheus counters (<c>/metrics</c>) at one moment, to show how a load's operations turned into Raft
/// work: entries per persisted batch (one fsync each), mesh messages and WAL fsyncs per operation, per silo. A
/// change of the write path that batches proposals differently shows here before it shows as CPU; the runtime's GC
/// counters say how much of a silo's time per operation went to collections.
/// </summary>
internal sealed class SiloMetrics
{
    private readonly Dictionary<ulong, Dictionary<string, double>> _silos;

    private SiloMetrics(Dictionary<ulong, Dictionary<string, double>> silos) => _silos = silos;

    public static async Task<SiloMetrics> SampleAsync(SiloProcessCluster cluster)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var silos = new Dictionary<ulong, Dictionary<string, double>>();
        foreach (ulong id in cluster.Members.Select(m => m.Id).Where(cluster.IsRunning))
        {
            try
            {
                Dictionary<string, double> values = Parse(await http.GetStringAsync(cluster.HttpAddress(id) + "/metrics"));
                if (cluster.ProcessId(id) is { } pid) values["context_switches"] = ContextSwitches(pid);
                silos[id] = values;
            }
            catch (HttpRequestException)
            {
                // A silo that does not answer is left out.
            }
        }
        return new SiloMetrics(silos);
    }

    /// <summary>
    /// Context switches of the process's live threads (voluntary and not, from /proc): each wake-up of a parked
    /// thread-pool worker, driver or socket thread is one, so a path that hops between threads more shows here.
    /// </summary>
    private static double ContextSwitches(int pid)
    {
        double total = 0;
        try
        {
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    foreach (string line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            total += double.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (IOException)
                {
                    // The thread exited.
                }
            }
        }
        catch (IOException)
        {
            // Not Linux, or the process exited.
        }
        return total;
    }

    /// <summary>Every counter and histogram count or sum, summed over its labels (name without labels).</summary>
    private static Dictionary<string, double> Parse(string text)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            int space = line.LastIndexOf(' ');
            if (space < 0) continue;
            string series = line[..space];
            // OpenTelemetry's exporter may end a sample with a timestamp: "name{labels} value timestamp".
            string rest = line[(space + 1)..];
            int brace = series.IndexOf('{');
            string name = brace < 0 ? series : series[..brace];
            if (name.Contains(' '))
            {
                // "name value timestamp" without labels.
                string[] parts = line.Split(' ');
                name = parts[0];
                rest = parts[1];
            }
            else if (brace >= 0 && series.IndexOf('}') is int close && close + 1 < series.Length)
            {
                // "name{labels} value timestamp".
                string[] parts = series[(close + 1)..].Trim().Split(' ');
                rest = parts[0];
            }
            if (!(name.EndsWith("_total", StringComparison.Ordinal) || name.EndsWith("_count", StringComparison.Ordinal) || name.EndsWith("_sum", StringComparison.Ordinal))) continue;
            if (double.TryParse(rest, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            {
                values[name] = values.GetValueOrDefault(name) + value;
            }
        }
        return values;
    }

    /// <summary>One line per silo and a few derived ratios: entries per persisted batch, fsyncs, messages per operation.</summary>
    public string PerOperation(SiloMetrics after, long operations)
    {
        var lines = new List<string>();
        foreach ((ulong id, Dictionary<string, double> before) in _silos.OrderBy(s => s.Key))
        {
            if (!after._silos.TryGetValue(id, out Dictionary<string, double>? now)) continue;
            double Delta(string name) => now.GetValueOrDefault(name) - before.GetValueOrDefault(name);
            double PerOp(string name) => operations == 0 ? 0 : Delta(name) / operations;
            double batches = Delta("raftkv_raft_persist_entries_count");
            double entries = Delta("raftkv_raft_persist_entries_sum");
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"  silo {id}: persisted batches/op {PerOp("raftkv_raft_persist_entries_count"):F3}, entries/batch {(batches == 0 ? 0 : entries / batches):F2}, " +
                $"fsyncs/op {PerOp("raftkv_wal_fsync_duration_seconds_count"):F3}, mesh messages sent/op {PerOp("raftkv_mesh_sent_messages_total"):F3}, " +
                $"gateway requests/op {PerOp("raftkv_gateway_requests_total"):F3}, applied/op {PerOp("raftkv_raft_applied_entries_total"):F3}, " +
                $"context switches/op {PerOp("context_switches"):F2}, GCs/1000 ops {1000 * PerOp("dotnet_gc_collections_total"):F2}, " +
                $"GC pause us/op {1e6 * PerOp("dotnet_gc_pause_time_seconds_total"):F2}"));
        }
        return string.Join(Environment.NewLine, lines);
    }
}
