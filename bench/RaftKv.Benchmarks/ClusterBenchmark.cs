using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RaftKv.Client;
using RaftKv.Grains;
using RaftKv.Simulation;
using RaftKv.TestingHost;

namespace RaftKv.Benchmarks;

/// <summary>
/// End-to-end numbers against a local 3-node cluster of real silo processes with fsync on (the WAL syncs every
/// Ready): write throughput and latency at several concurrency levels with 256-byte values, linearizable read
/// throughput, and leader failover time after kill -9. Each concurrent request stream is its own client session,
/// as separate application instances would be.
/// </summary>
internal static class ClusterBenchmark
{
    public static async Task RunAsync(string[] args)
    {
        double seconds = BenchmarkArguments.Option(args, "--seconds", 5);
        int failoverTrials = (int)BenchmarkArguments.Option(args, "--failovers", 10);
        // --in-flight N measures writes and reads at that one concurrency level only (for A/B runs on a busy machine).
        int inFlight = (int)BenchmarkArguments.Option(args, "--in-flight", 0);
        var sinceStart = Stopwatch.StartNew();
        await using var cluster = new SiloProcessCluster(3, []);
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
        double leaderAfter = sinceStart.Elapsed.TotalSeconds;
        // The load starts once every silo has fully started (node, Kestrel and Orleans joined): a leader is elected
        // seconds before Orleans has joined its cluster, and measuring then measures the silos' start-up (Orleans
        // joining, JIT) as much as their writes. --no-wait-started starts the load at the first leader, as before.
        bool waitStarted = !args.Contains("--no-wait-started");
        if (waitStarted)
        {
            await Task.WhenAll(cluster.Members.Select(m => cluster.WaitForSiloStartedAsync(m.Id, TimeSpan.FromSeconds(120))));
        }
        Console.Error.WriteLine($"(leader after {leaderAfter:F1}s; " + (waitStarted
            ? $"every silo started {sinceStart.Elapsed.TotalSeconds - leaderAfter:F1}s after that)"
            : "not waiting for the silos to finish starting)"));
        Console.WriteLine($"cluster: 3 silo processes on loopback, fsync on, {Environment.ProcessorCount} cores shared with the client");

        byte[] value = new byte[256];
        Random.Shared.NextBytes(value);
        // --client grpc (default) uses the gRPC gateway through RaftKvClient sessions; --client orleans runs the same
        // load through KV grains from one Orleans client (what an Orleans application does).
        bool orleans = BenchmarkArguments.Text(args, "--client", "grpc") switch
        {
            "grpc" => false,
            "orleans" => true,
            string other => throw new ArgumentException($"--client must be grpc or orleans, not '{other}'"),
        };
        using IHost? orleansClient = orleans ? await cluster.StartOrleansClientAsync(TimeSpan.FromSeconds(60)) : null;
        IClusterClient? grains = orleansClient?.Services.GetRequiredService<IClusterClient>();
        string via = orleans ? "KV grains (Orleans client)" : "gRPC gateway";
        // --metrics also prints, per silo, how the writes turned into Raft work (batches, fsyncs, mesh messages).
        bool metrics = args.Contains("--metrics");
        // --warmup S first runs S seconds of the writes (at --in-flight, or 256) and reads and throws the numbers away:
        // for several seconds after a silo starts, tiered JIT recompiles its hot code on a background thread, and on
        // this 2-core machine that CPU lands in the first measurement (20-60% of a silo's samples in perf), more of it
        // the more code a path runs.
        double warmup = BenchmarkArguments.Option(args, "--warmup", 0);
        if (warmup > 0)
        {
            int warmupInFlight = inFlight > 0 ? inFlight : 256;
            await (grains is null
                ? RunLoadAsync(cluster, warmupInFlight, warmup,
                    (client, worker, i) => client.PutAsync(System.Text.Encoding.UTF8.GetBytes($"bench-{worker}-{i % 1000}"), value))
                : RunLoadAsync(warmupInFlight, warmup, (worker, i) => grains.GetKvGrain($"bench-{worker}-{i % 1000}").PutAsync(value)));
            await (grains is null
                ? RunLoadAsync(cluster, warmupInFlight, warmup / 2,
                    (client, worker, i) => client.GetAsync(System.Text.Encoding.UTF8.GetBytes($"bench-{worker}-{i % 1000}")))
                : RunLoadAsync(warmupInFlight, warmup / 2, (worker, i) => grains.GetKvGrain($"bench-{worker}-{i % 1000}").GetAsync()));
            Console.Error.WriteLine($"(warmed up for {warmup:F0}s of writes and {warmup / 2:F0}s of reads)");
        }
        foreach (int concurrency in inFlight > 0 ? [inFlight] : new[] { 1, 16, 64, 256 })
        {
            string before = await LeadershipAsync(cluster);
            CpuTimes cpu = CpuTimes.Sample(cluster);
            SiloMetrics? metricsBefore = metrics ? await SiloMetrics.SampleAsync(cluster) : null;
            (long count, double elapsed, double[] latencies) = grains is null
                ? await RunLoadAsync(cluster, concurrency, seconds,
                    (client, worker, i) => client.PutAsync(System.Text.Encoding.UTF8.GetBytes($"bench-{worker}-{i % 1000}"), value))
                : await RunLoadAsync(concurrency, seconds,
                    (worker, i) => grains.GetKvGrain($"bench-{worker}-{i % 1000}").PutAsync(value));
            Console.WriteLine($"writes via {via}: {concurrency,3} in flight: {count / elapsed,9:N0} writes/s  p50={Percentiles.NearestRank(latencies, 0.50):F2}ms  p99={Percentiles.NearestRank(latencies, 0.99):F2}ms  ({count:N0} in {elapsed:F1}s)  {cpu.PerOperation(cluster, count)}{LeaderChange(before, await LeadershipAsync(cluster))}");
            if (metricsBefore is not null)
            {
                Console.WriteLine(metricsBefore.PerOperation(await SiloMetrics.SampleAsync(cluster), count));
                Console.WriteLine(await SessionGrainPlacementAsync(cluster));
            }
        }
        foreach (int concurrency in inFlight > 0 ? [inFlight] : new[] { 16, 64 })
        {
            CpuTimes cpu = CpuTimes.Sample(cluster);
            (long count, double elapsed, double[] latencies) = grains is null
                ? await RunLoadAsync(cluster, concurrency, seconds,
                    (client, worker, i) => client.GetAsync(System.Text.Encoding.UTF8.GetBytes($"bench-{worker}-{i % 1000}")))
                : await RunLoadAsync(concurrency, seconds,
                    (worker, i) => grains.GetKvGrain($"bench-{worker}-{i % 1000}").GetAsync());
            Console.WriteLine($"linearizable reads via {via}: {concurrency,3} in flight: {count / elapsed,9:N0} reads/s  p50={Percentiles.NearestRank(latencies, 0.50):F2}ms  p99={Percentiles.NearestRank(latencies, 0.99):F2}ms  {cpu.PerOperation(cluster, count)}");
        }

        // Steps that held a silo's Raft loop for two heartbeat intervals or more (event 1108): when leadership moved during
        // the load, they say whether a slow step preceded it and whether the disk or the CPU took the time.
        foreach (ulong id in cluster.Members.Select(m => m.Id))
        {
            foreach (string line in cluster.Log(id).Split('\n').Where(l => l.Contains("[1108]", StringComparison.Ordinal))) Console.WriteLine($"  silo {id}: {line.Trim()}");
        }

        var failovers = new List<double>();
        for (int trial = 0; trial < failoverTrials; trial++)
        {
            ulong leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
            var stopwatch = Stopwatch.StartNew();
            cluster.Kill(leader);
            await cluster.WaitUntilAsync(async () => await FirstLeaderAsync(cluster, leader) is not null, TimeSpan.FromSeconds(60), "a new leader");
            failovers.Add(stopwatch.Elapsed.TotalMilliseconds);
            cluster.Start(leader);
            await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
        }
        if (failovers.Count == 0) return;
        Console.WriteLine($"failover after kill -9 of the leader ({failoverTrials} trials, default timeouts): p50={Percentiles.NearestRank(failovers, 0.50):F0}ms p99={Percentiles.NearestRank(failovers, 0.99):F0}ms max={failovers.Max():F0}ms");
    }

    /// <summary>
    /// Where the silos host session grains (<c>ClientSessionGrain</c> activations per node), asked through an Orleans
    /// client after a gRPC load: a gateway whose clients' session grains live on another silo pays an Orleans hop
    /// there and back on every write.
    /// </summary>
    private static async Task<string> SessionGrainPlacementAsync(SiloProcessCluster cluster)
    {
        using IHost client = await cluster.StartOrleansClientAsync(TimeSpan.FromSeconds(60));
        var management = client.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
        SimpleGrainStatistic[] statistics = await management.GetSimpleGrainStatistics();
        var nodeOfPort = cluster.OrleansSiloEndpoints.Zip(cluster.Members).ToDictionary(p => p.First.Port, p => p.Second.Id);
        var sessions = statistics.Where(s => s.GrainType.Contains("ClientSession", StringComparison.Ordinal))
            .GroupBy(s => nodeOfPort.GetValueOrDefault(s.SiloAddress.Endpoint.Port))
            .Select(g => $"node {g.Key}: {g.Sum(s => s.ActivationCount)}");
        return "  session grain activations: " + string.Join(", ", sessions.DefaultIfEmpty("none"));
    }

    /// <summary>"leader N term T" as the silos report it, to show whether leadership moved during a measurement.</summary>
    private static async Task<string> LeadershipAsync(SiloProcessCluster cluster)
    {
        foreach (ulong id in cluster.Members.Select(m => m.Id).Where(cluster.IsRunning))
        {
            if (await cluster.TryStatusAsync(id) is { Role: RaftKv.Client.Protos.Role.Leader } status) return $"leader {id} term {status.Term}";
        }
        return "no leader";
    }

    /// <summary>
    /// A note when leadership moved while the load ran: sessions then keep talking to the old leader's gateway, which
    /// forwards to the new one, so the number measures the forwarding path too.
    /// </summary>
    private static string LeaderChange(string before, string after) => before == after ? "" : $"  [leadership moved: {before} -> {after}]";

    private static async Task<ulong?> FirstLeaderAsync(SiloProcessCluster cluster, ulong not)
    {
        foreach (ulong id in cluster.Members.Select(m => m.Id).Where(id => id != not && cluster.IsRunning(id)))
        {
            if (await cluster.TryStatusAsync(id) is { Role: RaftKv.Client.Protos.Role.Leader }) return id;
        }
        return null;
    }

    private static async Task<(long Count, double Seconds, double[] LatenciesMs)> RunLoadAsync(
        SiloProcessCluster cluster, int concurrency, double seconds, Func<RaftKvClient, int, long, Task> operation)
    {
        // Sessions share connections, as the request streams of one application instance would.
        using var handler = new RaftKvClientOptions().CreateHttpHandler();
        var clients = Enumerable.Range(0, concurrency).Select(_ => cluster.NewClient(handler)).ToArray();
        foreach (RaftKvClient client in clients) await operation(client, -1, 0); // register sessions, find the leader
        var result = await RunLoadAsync(concurrency, seconds, (worker, i) => operation(clients[worker], worker, i));
        foreach (RaftKvClient client in clients) await client.DisposeAsync();
        return result;
    }

    /// <summary>Runs <paramref name="concurrency"/> workers, each issuing its next operation when the last completes.</summary>
    private static async Task<(long Count, double Seconds, double[] LatenciesMs)> RunLoadAsync(
        int concurrency, double seconds, Func<int, long, Task> operation)
    {
        var latencies = new List<double>[concurrency];
        long count = 0;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var mine = latencies[worker] = [];
            for (long i = 0; stopwatch.Elapsed.TotalSeconds < seconds; i++)
            {
                long start = Stopwatch.GetTimestamp();
                await operation(worker, i);
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                Interlocked.Increment(ref count);
            }
        })));
        return (count, stopwatch.Elapsed.TotalSeconds, [.. latencies.SelectMany(l => l)]);
    }

    /// <summary>
    /// CPU time (user + system) of each silo process and of this benchmark process (the client) at one moment. CPU
    /// per operation is steadier than throughput on a shared machine: a neighbour's load slows the run, but costs a
    /// write little extra CPU, so A/B comparisons of code changes read it first.
    /// </summary>
    private sealed record CpuTimes(Dictionary<ulong, TimeSpan> Silos, TimeSpan Client)
    {
        public static CpuTimes Sample(SiloProcessCluster cluster) => new(
            cluster.Members.Select(m => m.Id).Where(cluster.IsRunning).ToDictionary(id => id, id => ProcessCpu(cluster.ProcessId(id))),
            Process.GetCurrentProcess().TotalProcessorTime);

        /// <summary>"CPU/op: silos 180us (5 82, 1 49, 3 49) + client 40us": the silos' total and each one's, busiest first.</summary>
        public string PerOperation(SiloProcessCluster cluster, long operations)
        {
            CpuTimes now = Sample(cluster);
            double Micros(TimeSpan spent) => operations == 0 ? 0 : spent.TotalMicroseconds / operations;
            var silos = Silos.Keys.Where(now.Silos.ContainsKey).Select(id => (Id: id, Us: Micros(now.Silos[id] - Silos[id])))
                .OrderByDescending(s => s.Us).ToList();
            return $"CPU/op: silos {silos.Sum(s => s.Us):F0}us ({string.Join(", ", silos.Select(s => $"{s.Id} {s.Us:F0}"))}) + client {Micros(now.Client - Client):F0}us";
        }

        private static TimeSpan ProcessCpu(int? pid)
        {
            try
            {
                return pid is { } id ? Process.GetProcessById(id).TotalProcessorTime : TimeSpan.Zero;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                return TimeSpan.Zero; // exited
            }
        }
    }
}
