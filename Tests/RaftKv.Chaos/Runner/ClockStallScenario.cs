using System.Diagnostics;
using System.Globalization;
using RaftKv.Chaos.Cluster;
using RaftKv.Chaos.Workloads;

namespace RaftKv.Chaos.Runner;

/// <summary>
/// "clock-stall": 3 silos under libfaketime; one follower's clocks jump ahead by --offset s for --hold s, then back;
/// after --wait s the leader is killed (SIGKILL) and the time until another node leads is measured. Pinned linearizable
/// readers keep every node busy, as in a chaos run. Repeats --rounds times (the killed node is restarted in between).
/// </summary>
public static class ClockStallScenario
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        int offset = 68, rounds = 3;
        double hold = 2, wait = 20;
        bool readers = true;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--offset": offset = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--hold": hold = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--wait": wait = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--no-readers": readers = false; break;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'\nusage: clock-stall [--offset 68] [--hold 2] [--wait 20] [--rounds 3] [--no-readers]");
                    return 2;
            }
        }
        string directory = Path.Combine(Path.GetTempPath(), $"raftkv-clockstall-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(directory);
        var clock = Stopwatch.StartNew();
        void Log(string line) => Console.WriteLine($"[{clock.Elapsed.TotalSeconds,8:F1} s {DateTime.UtcNow:HH:mm:ss.fff}] {line}");
        Log($"output {directory}");
        await using var cluster = new ChaosCluster(new ChaosClusterOptions
        {
            Nodes = 3, RunId = (int)((uint)Environment.ProcessId % 200), RunDirectory = Path.Combine(directory, "nodes"),
        });
        foreach (ChaosNode node in cluster.Nodes) cluster.Start(node.Id);
        int leader = await LeaderAsync(cluster, TimeSpan.FromSeconds(60)) ?? throw new InvalidOperationException("no first leader");
        Log($"leader {leader}");

        using var stop = new CancellationTokenSource();
        var factory = new GatewayClientFactory(cluster);
        var tasks = new List<Task>();
        if (readers)
        {
            foreach (ChaosNode node in cluster.Nodes)
            {
                IKvWorkloadClient client = factory.Create([node.Id]);
                tasks.Add(Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        try
                        {
                            await client.GetAsync("r/0", stop.Token).ConfigureAwait(false);
                        }
                        catch (Exception) when (!stop.IsCancellationRequested)
                        {
                            await Task.Delay(20).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException)
                        {
                        }
                    }
                }));
            }
        }
        var results = new List<double>();
        for (int round = 1; round <= rounds; round++)
        {
            // Every node (the one restarted last round too) follows one leader before the next jump.
            leader = await SettledLeaderAsync(cluster, TimeSpan.FromSeconds(60)) ?? throw new InvalidOperationException("the nodes did not settle on one leader");
            int follower = cluster.Nodes.Select(n => n.Id).First(id => id != leader);
            Log($"round {round}: leader {leader}; node {follower}'s clocks jump by {offset:+0;-0} s for {hold} s");
            cluster.SetClockOffset(follower, offset);
            await Task.Delay(TimeSpan.FromSeconds(hold)).ConfigureAwait(false);
            cluster.SetClockOffset(follower, 0);
            Log($"round {round}: node {follower}'s clocks back to true time; waiting {wait} s");
            await Task.Delay(TimeSpan.FromSeconds(wait)).ConfigureAwait(false);
            int? now = await LeaderAsync(cluster, TimeSpan.FromSeconds(10));
            if (now != leader)
            {
                Log($"round {round}: leader changed to {now} meanwhile; killing it anyway");
                leader = now ?? leader;
            }
            var failover = Stopwatch.StartNew();
            cluster.Kill(leader);
            Log($"round {round}: killed leader {leader}");
            int? next = await LeaderAsync(cluster, TimeSpan.FromSeconds(90)).ConfigureAwait(false);
            results.Add(failover.Elapsed.TotalMilliseconds);
            Log($"round {round}: new leader {next?.ToString(CultureInfo.InvariantCulture) ?? "none"} after {failover.Elapsed.TotalMilliseconds:F0} ms");
            cluster.Start(leader);
        }
        stop.Cancel();
        await Task.WhenAll(tasks).ConfigureAwait(false);
        Log($"failover ms: {string.Join(" ", results.Select(r => r.ToString("F0", CultureInfo.InvariantCulture)))}; max {results.Max():F0}");
        return 0;
    }

    /// <summary>The leader as soon as a running node says it leads (polled every 50 ms: failover is timed by it), or null.</summary>
    private static Task<int?> LeaderAsync(ChaosCluster cluster, TimeSpan timeout) =>
        PollAsync(() => cluster.LeaderAsync(), timeout);

    /// <summary>The leader once every node answers and names it, or null.</summary>
    private static Task<int?> SettledLeaderAsync(ChaosCluster cluster, TimeSpan timeout) =>
        PollAsync(async () =>
        {
            var statuses = await Task.WhenAll(cluster.Nodes.Select(n => cluster.StatusAsync(n.Id))).ConfigureAwait(false);
            ulong leader = statuses[0]?.LeaderId ?? 0;
            return leader != 0 && statuses.All(s => s?.LeaderId == leader) ? (int?)(int)leader : null;
        }, timeout);

    private static async Task<int?> PollAsync(Func<Task<int?>> probe, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (await probe().ConfigureAwait(false) is int found) return found;
            await Task.Delay(50).ConfigureAwait(false);
        }
        return null;
    }
}
