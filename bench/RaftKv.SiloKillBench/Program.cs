using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;
using RaftKv.Grains;
using RaftKv.Grains.Membership;
using RaftKv.TestingHost;

// kill -9 each silo of a 3-silo cluster in turn (node 1, the first started, included) while an Orleans client calls KV
// grains in a loop, restart it, and report the longest gap in completed calls and when the killed silo rejoined.
// The silos are the README cluster's (LocalCluster.SiloArguments: RaftKv clustering, LAN membership timing), started
// as processes this tool can kill.
//   dotnet run -c Release --project bench/RaftKv.SiloKillBench -- [--kills 10] [--workers 8] [--ports 21000-21999]
//                                                                 [--response-timeout-ms 3000] [--orleans-default-timing]
// The client's ResponseTimeout matters: Orleans does not fail the calls in flight on a gateway connection that died;
// they wait for ResponseTimeout (30 s by default), so a LAN client wants a few seconds.
int kills = 10, workers = 8, responseTimeoutMs = 3_000;
(int First, int Last) ports = (21_000, 22_000);
bool defaultTiming = false;
for (int i = 0; i < args.Length; i++)
{
    string value = i + 1 < args.Length ? args[i + 1] : "";
    switch (args[i])
    {
        case "--kills" when int.TryParse(value, out int k) && k > 0: kills = k; i++; break;
        case "--workers" when int.TryParse(value, out int w) && w > 0: workers = w; i++; break;
        case "--ports" when value.Split('-') is [var first, var last] && int.TryParse(first, out int f) && int.TryParse(last, out int l) && l > f:
            ports = (f, l + 1); i++; break;
        case "--response-timeout-ms" when int.TryParse(value, out int r) && r > 0: responseTimeoutMs = r; i++; break;
        case "--orleans-default-timing": defaultTiming = true; break;
        default:
            Console.Error.WriteLine($"unknown or invalid argument '{args[i]}'\nusage: [--kills 10] [--workers 8] [--ports 21000-21999] [--response-timeout-ms 3000] [--orleans-default-timing]");
            return 2;
    }
}

// Orleans' own defaults, to compare with (the silos otherwise run LanMembershipTiming).
string[] orleansDefaults =
[
    "--RaftKv:Orleans:Membership:ProbeTimeout=00:00:05", "--RaftKv:Orleans:Membership:MinProbeTimeout=00:00:02.5",
    "--RaftKv:Orleans:Membership:MaxProbeTimeout=00:00:20", "--RaftKv:Orleans:Membership:DeathVoteExpirationTimeout=00:02:00",
    "--RaftKv:Orleans:Membership:IAmAliveTablePublishTimeout=00:00:30", "--RaftKv:Orleans:Membership:TableRefreshTimeout=00:01:00",
];
string[] siloArguments = ["--RaftKv:SnapshotThresholdBytes=1048576", "--Logging:LogLevel:Default=Warning", .. defaultTiming ? orleansDefaults : []];

var total = Stopwatch.StartNew();
Console.WriteLine($"starting 3 silos (ports {ports.First}-{ports.Last - 1}), Orleans membership timing: {(defaultTiming ? "Orleans defaults" : "LAN (LanMembershipTiming)")}");
await using var cluster = new SiloProcessCluster(3, siloArguments, ports);
ulong firstLeader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(120));
Console.WriteLine($"raft leader: node {firstLeader} after {total.Elapsed.TotalSeconds:F1} s");

var clustering = new RaftKvClusteringOptions { Endpoints = [.. cluster.ClientAddresses] };
await using var table = new RaftKvMembershipTable(clustering, "raftkv");
int[] gatewayPorts = [.. cluster.OrleansGateways.Select(g => g.Port)]; // node id i+1 has gatewayPorts[i]

// Wait for all three silos to be Active in the Raft-backed table before connecting the client.
await WaitAsync(async () => (await ActiveGenerations()).Count == 3, TimeSpan.FromSeconds(180), "3 active silos in the membership table");
Console.WriteLine($"3 silos active in the membership table after {total.Elapsed.TotalSeconds:F1} s");

HostApplicationBuilder builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Error); // a killed gateway's connection errors are expected here
builder.UseOrleansClient(client => client
    .UseRaftKvClustering(o => o.Endpoints = [.. cluster.ClientAddresses])
    .Configure<ClusterOptions>(c => (c.ClusterId, c.ServiceId) = ("raftkv", "raftkv"))
    .Configure<GatewayOptions>(g => g.GatewayListRefreshPeriod = TimeSpan.FromSeconds(2))
    .Configure<ClientMessagingOptions>(m => m.ResponseTimeout = TimeSpan.FromMilliseconds(responseTimeoutMs)));
using IHost host = builder.Build();
await host.StartAsync();
IClusterClient orleans = host.Services.GetRequiredService<IClusterClient>();

// Workers: each puts and gets its own keys through KV grains, retrying a failed call on the same key until it
// completes (as an application would), so the longest any one worker waits is how long one call can be held up.
var completions = new ConcurrentQueue<(int Worker, long Timestamp)>();
int failures = 0;
var failureKinds = new ConcurrentDictionary<string, int>();
using var stop = new CancellationTokenSource();
Task[] loops = [.. Enumerable.Range(0, workers).Select(worker => Task.Run(async () =>
{
    for (long n = 0; !stop.IsCancellationRequested; n++)
    {
        IKvGrain grain = orleans.GetKvGrain($"kill-bench/{worker}/{n % 32}");
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (n % 2 == 0) await grain.PutAsync(Encoding.UTF8.GetBytes($"v{n}"));
                else await grain.GetAsync();
                completions.Enqueue((worker, Stopwatch.GetTimestamp()));
                break;
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref failures);
                failureKinds.AddOrUpdate(e.GetType().Name, 1, (_, c) => c + 1);
                await Task.Delay(20);
            }
        }
    }
}))];
await WaitAsync(() => Task.FromResult(completions.Count > 100), TimeSpan.FromSeconds(60), "the first KV grain calls");
Console.WriteLine($"client calling KV grains with {workers} workers (client ResponseTimeout {responseTimeoutMs} ms)");
Console.WriteLine();
Console.WriteLine("kill  node  raft-role  longest-gap-ms  gap-starts-s  worst-worker-gap-ms  declared-dead-s  rejoined-s  calls-in-round");

var gaps = new List<double>();
var killedGenerations = new HashSet<(int Port, int Generation)>();
var workerGaps = new List<double>();
for (int k = 0; k < kills; k++)
{
    ulong victim = (ulong)(k % 3) + 1;
    await Task.Delay(TimeSpan.FromSeconds(3)); // steady state before each kill
    Dictionary<int, int> before = await ActiveGenerations();
    int oldGeneration = before.GetValueOrDefault(gatewayPorts[victim - 1]);
    string role = (await cluster.TryStatusAsync(victim))?.Role.ToString() ?? "?";
    int callsBefore = completions.Count;

    killedGenerations.Add((gatewayPorts[victim - 1], oldGeneration));
    long killedAt = Stopwatch.GetTimestamp();
    cluster.Kill(victim);
    double? declaredDead = null;
    await WaitAsync(async () =>
    {
        declaredDead ??= await IsDeclaredDead(gatewayPorts[victim - 1], oldGeneration) ? Since(killedAt) : null;
        return declaredDead is not null;
    }, TimeSpan.FromSeconds(120), $"node {victim} declared dead");

    cluster.Start(victim);
    await WaitAsync(async () => (await ActiveGenerations()).GetValueOrDefault(gatewayPorts[victim - 1]) > oldGeneration,
        TimeSpan.FromSeconds(180), $"node {victim} rejoining");
    double rejoined = Since(killedAt);
    await Task.Delay(TimeSpan.FromSeconds(3)); // calls after the rejoin count too
    long roundEnd = Stopwatch.GetTimestamp();

    (double gap, double gapStart, double worstWorker) = Gaps(killedAt - Stopwatch.Frequency, roundEnd, killedAt);
    gaps.Add(gap);
    workerGaps.Add(worstWorker);
    Console.WriteLine($"{k + 1,4}  {victim,4}  {role,-9}  {gap,14:F0}  {gapStart,12:F1}  {worstWorker,19:F0}  {declaredDead,15:F1}  {rejoined,10:F1}  {completions.Count - callsBefore,14}");
}

await stop.CancelAsync();
await Task.WhenAll(loops);
Console.WriteLine();
Console.WriteLine($"kills: {kills}; calls completed: {completions.Count}; failed calls (retried): {failures}" +
                  (failureKinds.IsEmpty ? "" : $" ({string.Join(", ", failureKinds.Select(f => $"{f.Key} x{f.Value}"))})"));
Console.WriteLine($"longest gap in completed KV grain calls: {gaps.Max():F0} ms (median over kills {Median(gaps):F0} ms); " +
                  $"longest any one worker waited: {workerGaps.Max():F0} ms");
Console.WriteLine($"every killed silo rejoined (a new generation Active in the Raft-backed membership table); total {total.Elapsed.TotalSeconds:F0} s");
// A silo declared dead that was never killed would be a false suspicion (timing too tight for this machine's load).
MembershipTableData final = await table.ReadAll();
var falseDeaths = final.Members.Where(m => m.Item1.Status == SiloStatus.Dead && !killedGenerations.Contains((m.Item1.ProxyPort, m.Item1.SiloAddress.Generation))).ToList();
Console.WriteLine($"silos declared dead without being killed: {falseDeaths.Count}{string.Concat(falseDeaths.Select(m => $" {m.Item1.SiloAddress}"))}");
await host.StopAsync();
return 0;

// ---- helpers ----

async Task<Dictionary<int, int>> ActiveGenerations()
{
    MembershipTableData data = await table.ReadAll();
    return data.Members.Where(m => m.Item1.Status == SiloStatus.Active)
        .GroupBy(m => m.Item1.ProxyPort)
        .ToDictionary(g => g.Key, g => g.Max(m => m.Item1.SiloAddress.Generation));
}

async Task<bool> IsDeclaredDead(int gatewayPort, int generation)
{
    MembershipTableData data = await table.ReadAll();
    return data.Members.Any(m => m.Item1.ProxyPort == gatewayPort && m.Item1.SiloAddress.Generation == generation && m.Item1.Status == SiloStatus.Dead);
}

// In [from, to]: the longest interval without any completed call (ms) and where it started (s after the kill), and the
// longest any one worker went without completing a call (ms).
(double Gap, double GapStart, double WorstWorker) Gaps(long from, long to, long killedAt)
{
    var window = completions.Where(c => c.Timestamp >= from && c.Timestamp <= to).ToList();
    (long Length, long Start) Longest(IEnumerable<long> stamps)
    {
        long previous = from, longest = 0, start = from;
        foreach (long t in stamps.Append(to).Order())
        {
            if (t - previous > longest) (longest, start) = (t - previous, previous);
            previous = t;
        }
        return (longest, start);
    }
    (long gap, long start) = Longest(window.Select(c => c.Timestamp));
    long worst = Enumerable.Range(0, workers).Max(w => Longest(window.Where(c => c.Worker == w).Select(c => c.Timestamp)).Length);
    return (Ms(gap), (start - killedAt) / (double)Stopwatch.Frequency, Ms(worst));
}

static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

static double Since(long timestamp) => Stopwatch.GetElapsedTime(timestamp).TotalSeconds;

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
{
    var waited = Stopwatch.StartNew();
    while (waited.Elapsed < timeout)
    {
        try
        {
            if (await condition()) return;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The store may be failing over; ask again.
        }
        await Task.Delay(100);
    }
    throw new TimeoutException($"{what} did not happen within {timeout}");
}
