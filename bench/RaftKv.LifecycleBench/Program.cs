using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Orleans;
using Orleans.Runtime;
using RaftKv.Client;
using RaftKv.Grains.Membership;
using RaftKv.TestingHost;

// Lifecycle numbers for a 3-silo cluster of real processes (the README cluster's configuration: RaftKv clustering,
// LAN membership timing).
//   dotnet run -c Release --project bench/RaftKv.LifecycleBench -- [stop] [idle] [--trials 6] [--idle-seconds 30] [--rounds 3]
//                                                                  [--settle-seconds 600] [--ports 28000-28999] [--etcd PATH]
//                                                                  [--silo-arg --RaftKv:Setting=value ...]
// stop: SIGTERM one silo while its peers run (followers and the leader in turn), time until the process exits, restart
//       it and wait until it is Active in Orleans' table again; a writer keeps one write in flight throughout, and every
//       acknowledged write is read back at the end. Prints each trial and p50/max per role.
// idle: CPU time (utime + stime from /proc/<pid>/stat) of each idle silo over --idle-seconds, as % of one core, after
//       --settle-seconds (the first minutes of a silo are dominated by tiered JIT recompilation: perf showed ~77% of
//       its samples in the JIT 40-60 s after start, and periodic work of 10 s and more reaches its 30 calls only after
//       5-10 minutes: at 120 s the JIT thread still took up to 0.47 points of a core in a 30 s window, at 600 s none;
//       so the default measures a silo that has settled, as one idling for hours has), and the same for each member of
//       an idle 3-member etcd cluster (when etcd is installed: apt-get install etcd-server) started beside the silos;
//       --rounds windows of each, alternating, so both see the same machine. Each silo's number also says how much of it was its background
//       tier-1 JIT thread (".NET Tiered Com"), which keeps recompiling for minutes as rarely-run code reaches its call
//       counts.
bool runStop = false, runIdle = false;
int trials = 6, idleSeconds = 30, settleSeconds = 600, rounds = 3;
var extraSiloArguments = new List<string>();
(int First, int Last) ports = (28_000, 29_000);
string etcd = "etcd";
for (int i = 0; i < args.Length; i++)
{
    string value = i + 1 < args.Length ? args[i + 1] : "";
    switch (args[i])
    {
        case "stop": runStop = true; break;
        case "idle": runIdle = true; break;
        case "--trials" when int.TryParse(value, out int t) && t > 0: trials = t; i++; break;
        case "--idle-seconds" when int.TryParse(value, out int s) && s > 0: idleSeconds = s; i++; break;
        case "--rounds" when int.TryParse(value, out int r) && r > 0: rounds = r; i++; break;
        case "--silo-arg" when value.Length > 0: extraSiloArguments.Add(value); i++; break;
        case "--settle-seconds" when int.TryParse(value, out int s) && s >= 0: settleSeconds = s; i++; break;
        case "--ports" when value.Split('-') is [var first, var last] && int.TryParse(first, out int f) && int.TryParse(last, out int l) && l > f:
            ports = (f, l + 1); i++; break;
        case "--etcd" when value.Length > 0: etcd = value; i++; break;
        default:
            Console.Error.WriteLine($"unknown or invalid argument '{args[i]}'\nusage: [stop] [idle] [--trials 6] [--idle-seconds 30] [--rounds 3] [--settle-seconds 600] [--ports 28000-28999] [--etcd PATH] [--silo-arg ARG ...]");
            return 2;
    }
}
if (!runStop && !runIdle) runStop = runIdle = true;

long clockTicksPerSecond = ClockTicksPerSecond();
var total = Stopwatch.StartNew();
string[] siloArguments = ["--RaftKv:SnapshotThresholdBytes=1048576", "--Logging:LogLevel:Default=Warning", .. extraSiloArguments];
Console.WriteLine($"starting 3 silos (ports {ports.First}-{ports.Last - 1}); {Environment.ProcessorCount} cores" +
                  (extraSiloArguments.Count > 0 ? $"; silo arguments {string.Join(" ", extraSiloArguments)}" : ""));
await using var cluster = new SiloProcessCluster(3, siloArguments, ports);
await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(120));
await using var table = new RaftKvMembershipTable(new RaftKvClusteringOptions { Endpoints = [.. cluster.ClientAddresses] }, "raftkv");
int[] gatewayPorts = [.. cluster.OrleansGateways.Select(g => g.Port)]; // node id i+1 has gatewayPorts[i]
await WaitAsync(async () => (await ActiveGenerations()).Count == 3, TimeSpan.FromSeconds(180), "3 active silos in the membership table");
Console.WriteLine($"3 silos active in the membership table after {total.Elapsed.TotalSeconds:F1} s");

if (runIdle) await MeasureIdleAsync();
if (runStop) await MeasureStopAsync();
return 0;

async Task MeasureStopAsync()
{
    Console.WriteLine();
    Console.WriteLine("SIGTERM to exit, peers running, one write in flight throughout");
    Console.WriteLine("trial  node  role      exit-ms  exit-code  rejoined-s");
    await using RaftKvClient writer = cluster.NewClient();
    var acknowledged = new List<(string Key, long Write)>();
    long writeFailures = 0;
    using var stopWriting = new CancellationTokenSource();
    Task writing = Task.Run(async () =>
    {
        for (long n = 0; !stopWriting.IsCancellationRequested; n++)
        {
            string key = $"lifecycle/{n % 512}", value = $"v{n}";
            try
            {
                await writer.PutAsync(key, value, stopWriting.Token);
                lock (acknowledged) acknowledged.Add((key, n));
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or RaftKvSessionExpiredException)
            {
                Interlocked.Increment(ref writeFailures); // unacknowledged: may or may not be applied
            }
            catch (OperationCanceledException) when (stopWriting.IsCancellationRequested)
            {
            }
        }
    });
    var times = new Dictionary<string, List<double>> { ["follower"] = [], ["leader"] = [] };
    for (int trial = 1; trial <= trials; trial++)
    {
        ulong leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
        // Alternate: odd trials stop a follower, even trials the leader.
        bool stopLeader = trial % 2 == 0;
        ulong victim = stopLeader ? leader : cluster.Members.Select(m => m.Id).First(id => id != leader);
        int generation = (await ActiveGenerations()).GetValueOrDefault(gatewayPorts[victim - 1]);
        var stopping = Stopwatch.StartNew();
        using Process process = cluster.Terminate(victim)!;
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        double exitMs = stopping.Elapsed.TotalMilliseconds;
        times[stopLeader ? "leader" : "follower"].Add(exitMs);
        var rejoining = Stopwatch.StartNew();
        cluster.Start(victim);
        await WaitAsync(async () => (await ActiveGenerations()).GetValueOrDefault(gatewayPorts[victim - 1]) > generation,
            TimeSpan.FromSeconds(180), $"node {victim} rejoining");
        Console.WriteLine($"{trial,5}  {victim,4}  {(stopLeader ? "leader" : "follower"),-8}  {exitMs,7:F0}  {process.ExitCode,9}  {rejoining.Elapsed.TotalSeconds,10:F1}");
    }
    await stopWriting.CancelAsync();
    await writing;

    // Every acknowledged write survived the stops. One writer writes in order, so a linearizable read of a key returns
    // its last acknowledged write or a later one that failed or was cancelled (unacknowledged, but possibly applied);
    // anything older means an acknowledged write was lost.
    var latest = new Dictionary<string, long>();
    foreach ((string key, long write) in acknowledged) latest[key] = write;
    int lost = 0;
    foreach ((string key, long write) in latest)
    {
        KvItem? item = await writer.GetAsync(key);
        string? value = item is null ? null : System.Text.Encoding.UTF8.GetString(item.Value);
        if (value is null || !long.TryParse(value.AsSpan(1), CultureInfo.InvariantCulture, out long found) || found < write)
        {
            lost++;
            Console.WriteLine($"LOST: {key} holds {value ?? "nothing"}, last acknowledged v{write}");
        }
    }
    Console.WriteLine();
    foreach ((string role, List<double> values) in times)
    {
        if (values.Count > 0) Console.WriteLine($"{role}: stops={values.Count} p50={Percentile(values, 50):F0} ms max={values.Max():F0} ms");
    }
    Console.WriteLine($"acknowledged writes: {acknowledged.Count}; failed (unacknowledged) writes: {writeFailures}; keys checked: {latest.Count}; lost: {lost}");
}

async Task MeasureIdleAsync()
{
    Console.WriteLine();
    string? etcdPath = FindOnPath(etcd);
    if (etcdPath is null) Console.WriteLine($"etcd: '{etcd}' not found (apt-get install etcd-server), not measured");
    string root = Directory.CreateTempSubdirectory("raftkv-etcd-").FullName;
    var members = new List<Process>();
    try
    {
        if (etcdPath is not null) members = await StartEtcdAsync(etcdPath, root);
        Console.WriteLine($"idle: settling {settleSeconds} s (start-up JIT), then {rounds} rounds of {idleSeconds} s windows, silos then etcd");
        await Task.Delay(TimeSpan.FromSeconds(settleSeconds));
        int[] pids = [.. cluster.Members.Select(m => cluster.ProcessId(m.Id) ?? throw new InvalidOperationException($"node {m.Id} is not running"))];
        var siloRounds = new List<double[]>();
        var etcdRounds = new List<double[]>();
        for (int round = 1; round <= rounds; round++)
        {
            // The JIT thread exits when it has nothing to do and comes back later, so it is sampled during the window.
            using var stopSampling = new CancellationTokenSource();
            Task<double[]> jitSampling = TieredJitPercentAsync(pids, stopSampling.Token);
            double[] silo = await CpuPercentAsync(pids, idleSeconds);
            await stopSampling.CancelAsync();
            double[] jit = await jitSampling;
            siloRounds.Add(silo);
            Console.WriteLine($"round {round}: idle CPU over {idleSeconds} s (% of one core): silos {string.Join(", ", silo.Select((c, i) => $"{c.ToString("F2", CultureInfo.InvariantCulture)} (JIT {jit[i].ToString("F2", CultureInfo.InvariantCulture)})"))}; mean {silo.Average():F2}");
            if (members.Count == 0) continue;
            double[] etcdCpu = await CpuPercentAsync([.. members.Select(m => m.Id)], idleSeconds);
            etcdRounds.Add(etcdCpu);
            Console.WriteLine($"round {round}: idle CPU over {idleSeconds} s (% of one core): etcd members {string.Join(", ", etcdCpu.Select(c => c.ToString("F2", CultureInfo.InvariantCulture)))}; mean {etcdCpu.Average():F2}");
        }
        Console.WriteLine();
        Console.WriteLine($"idle silo (3 silos x {rounds} windows): {Summary(siloRounds)}");
        if (etcdRounds.Count > 0) Console.WriteLine($"idle etcd member (3 members x {rounds} windows): {Summary(etcdRounds)} ({etcdPath})");
    }
    finally
    {
        foreach (Process member in members)
        {
            member.Kill();
            member.WaitForExit();
            member.Dispose();
        }
        Directory.Delete(root, recursive: true);
    }
}

static string Summary(List<double[]> rounds)
{
    var values = rounds.SelectMany(r => r).Order().ToList();
    return $"min {values[0]:F2}, median {Percentile(values, 50):F2}, max {values[^1]:F2}, mean {values.Average():F2} % of one core";
}

// An idle 3-member etcd cluster on loopback, healthy.
async Task<List<Process>> StartEtcdAsync(string etcdPath, string root)
{
    int[] etcdPorts = LoopbackPorts.Free(6, ports);
    string initial = string.Join(",", Enumerable.Range(0, 3).Select(i => $"e{i}=http://127.0.0.1:{etcdPorts[3 + i]}"));
    var members = new List<Process>();
    for (int i = 0; i < 3; i++)
    {
        var start = new ProcessStartInfo(etcdPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[]
        {
            "--name", $"e{i}", "--data-dir", Path.Combine(root, $"e{i}"),
            "--listen-client-urls", $"http://127.0.0.1:{etcdPorts[i]}", "--advertise-client-urls", $"http://127.0.0.1:{etcdPorts[i]}",
            "--listen-peer-urls", $"http://127.0.0.1:{etcdPorts[3 + i]}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{etcdPorts[3 + i]}",
            "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", "raftkv-bench", "--log-level", "error",
        })
        {
            start.ArgumentList.Add(arg);
        }
        Process process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        members.Add(process);
    }
    using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
    await WaitAsync(async () =>
    {
        foreach (int port in etcdPorts[..3])
        {
            try
            {
                string health = await http.GetStringAsync($"http://127.0.0.1:{port}/health");
                if (!health.Contains("\"true\"", StringComparison.Ordinal)) return false;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException)
            {
                return false;
            }
        }
        return true;
    }, TimeSpan.FromSeconds(60), "a healthy 3-member etcd cluster");
    Console.WriteLine($"etcd: 3 members healthy ({etcdPath})");
    return members;
}

// CPU used by each process over the window, as a percentage of one core.
async Task<double[]> CpuPercentAsync(int[] pids, int seconds)
{
    long[] before = [.. pids.Select(CpuTicks)];
    var window = Stopwatch.StartNew();
    await Task.Delay(TimeSpan.FromSeconds(seconds));
    long[] after = [.. pids.Select(CpuTicks)];
    double elapsed = window.Elapsed.TotalSeconds;
    return [.. pids.Select((_, i) => 100.0 * (after[i] - before[i]) / clockTicksPerSecond / elapsed)];
}

// utime + stime of a process, in clock ticks (proc(5): fields 14 and 15, counted after the parenthesised command name).
static long CpuTicks(int pid)
{
    string stat = File.ReadAllText($"/proc/{pid}/stat");
    string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
}

// CPU of each process's background tier-1 JIT thread (".NET Tiered Com") until cancelled, as % of one core. The thread
// exits when idle and is started again, so its CPU time is sampled every 250 ms per thread id (a thread's last quarter
// second before it exits is missed: a slight undercount).
async Task<double[]> TieredJitPercentAsync(int[] pids, CancellationToken stop)
{
    var first = new Dictionary<(int Pid, string Tid), long>();
    var last = new Dictionary<(int Pid, string Tid), long>();
    var window = Stopwatch.StartNew();
    while (true)
    {
        foreach (int pid in pids)
        {
            foreach ((string tid, long ticks) in TieredJitThreads(pid))
            {
                // A thread first seen after the window opened started in it: all of its time counts.
                first.TryAdd((pid, tid), window.ElapsedMilliseconds < 100 ? ticks : 0);
                last[(pid, tid)] = ticks;
            }
        }
        if (stop.IsCancellationRequested) break;
        try
        {
            await Task.Delay(250, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
    double seconds = window.Elapsed.TotalSeconds;
    return [.. pids.Select(pid => 100.0 * last.Where(t => t.Key.Pid == pid).Sum(t => t.Value - first[t.Key]) / clockTicksPerSecond / seconds)];
}

// utime + stime of each background tier-1 JIT thread of a process, by thread id.
static IEnumerable<(string Tid, long Ticks)> TieredJitThreads(int pid)
{
    var threads = new List<(string, long)>();
    foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
    {
        try
        {
            if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith(".NET Tiered Com", StringComparison.Ordinal)) continue;
            string stat = File.ReadAllText(Path.Combine(task, "stat"));
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            threads.Add((Path.GetFileName(task), long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)));
        }
        catch (IOException)
        {
            // the thread ended
        }
    }
    return threads;
}

static long ClockTicksPerSecond()
{
    using Process getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true })!;
    string output = getconf.StandardOutput.ReadToEnd().Trim();
    getconf.WaitForExit();
    return long.TryParse(output, out long ticks) && ticks > 0 ? ticks : 100;
}

static string? FindOnPath(string name)
{
    if (name.Contains('/')) return File.Exists(name) ? name : null;
    return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}

static double Percentile(List<double> values, int percentile)
{
    var sorted = values.Order().ToList();
    return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
}

async Task<Dictionary<int, int>> ActiveGenerations()
{
    MembershipTableData data = await table.ReadAll();
    return data.Members.Where(m => m.Item1.Status == SiloStatus.Active)
        .GroupBy(m => m.Item1.ProxyPort)
        .ToDictionary(g => g.Key, g => g.Max(m => m.Item1.SiloAddress.Generation));
}

static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
{
    var deadline = Stopwatch.StartNew();
    while (deadline.Elapsed < timeout)
    {
        try
        {
            if (await condition()) return;
        }
        catch (Exception e) when (e is Grpc.Core.RpcException or OrleansException or TimeoutException)
        {
            // the store may be electing a leader; try again
        }
        await Task.Delay(100);
    }
    throw new TimeoutException($"{what} did not happen within {timeout}");
}
