using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using RaftKv.Chaos.Checkers;
using RaftKv.Chaos.Cluster;
using RaftKv.Chaos.Faults;
using RaftKv.Chaos.History;
using RaftKv.Chaos.Workloads;
using RaftKv.Client;

namespace RaftKv.Chaos.Runner;

/// <summary>
/// One chaos run: start the cluster, run the workloads while the nemesis injects faults, heal everything, read
/// every key back, wait for the nodes to converge, check, and write the report.
/// </summary>
public sealed class ChaosRun(ChaosOptions options, TextWriter? progress = null)
{
    /// <summary>Process ids of the final readers (after every fault healed), apart from the workers'.</summary>
    public const int FinalReaderProcess = 1000;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    private readonly TextWriter _progress = progress ?? TextWriter.Null;

    public async Task<ChaosReport> RunAsync(CancellationToken cancellationToken = default)
    {
        string directory = options.OutputDirectory ?? Path.Combine(Path.GetTempPath(), $"raftkv-chaos-seed{options.Seed}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");
        Directory.CreateDirectory(directory);
        var history = new HistoryRecorder();
        var timeline = new FaultTimeline(history);
        int runId = (int)((uint)Environment.ProcessId % 200);

        IReadOnlyList<string> siloArguments =
        [
            "--RaftKv:SnapshotThresholdBytes=1048576",
            "--RaftKv:StateMachineMemoryBytes=16777216",
            "--RaftKv:WalSegmentSizeBytes=8388608",
            .. options.SiloArguments,
        ];
        await using var cluster = new ChaosCluster(new ChaosClusterOptions
        {
            Nodes = options.Nodes, RunId = runId, RunDirectory = Path.Combine(directory, "nodes"),
            NetworkNamespaces = options.NetworkNamespaces, ExtraSiloArguments = siloArguments,
        });
        cluster.NodeExited += (id, code) => timeline.Add(FaultPhase.Note, "exit", $"node {id} exited by itself with code {code}");
        var kinds = (options.Faults ?? Enum.GetValues<FaultKind>()).Where(k => Supported(k, cluster, out _)).ToList();
        var unsupported = (options.Faults ?? Enum.GetValues<FaultKind>()).Where(k => !Supported(k, cluster, out _))
            .Select(k => { Supported(k, cluster, out string why); return $"{k.Name()} ({why})"; }).ToList();
        Log($"chaos: seed {options.Seed}, {options.Nodes} nodes, {options.Duration.TotalSeconds:F0} s, faults: {string.Join(",", kinds.Select(k => k.Name()))}" +
            (unsupported.Count > 0 ? $"; unsupported here: {string.Join(", ", unsupported)}" : "") + $"; output {directory}");

        foreach (ChaosNode node in cluster.Nodes) cluster.Start(node.Id);
        await WaitForAsync(async () => await cluster.LeaderAsync(cancellationToken).ConfigureAwait(false) is not null, StartTimeout, "a first leader", cancellationToken)
            .ConfigureAwait(false);

        IKvClientFactory gateway = new GatewayClientFactory(cluster);
        await using OrleansClientFactory? orleans = options.Clients.Contains("orleans")
            ? await OrleansClientFactory.StartAsync(cluster, cancellationToken).ConfigureAwait(false)
            : null;
        IKvClientFactory[] kindsOfClient = [.. options.Clients.Select(c => c == "orleans" ? (IKvClientFactory)orleans! : gateway)];
        var nemesis = new Nemesis(cluster, timeline);
        var clients = new List<IKvWorkloadClient>();
        var processKinds = new SortedDictionary<int, string>();
        // Workers of each workload are dealt the client kinds round-robin; pinned readers and the final reads use gRPC
        // (an Orleans client cannot choose the silo a grain call lands on).
        RecordingClient NewRecorder(int process, IReadOnlyList<int>? only = null, int kindIndex = -1)
        {
            IKvClientFactory factory = only is not null || kindIndex < 0 ? gateway : kindsOfClient[kindIndex % kindsOfClient.Length];
            IKvWorkloadClient client = factory.Create(only);
            lock (clients)
            {
                clients.Add(client);
                processKinds[process] = factory.Name;
            }
            return new RecordingClient(client, history, process);
        }

        using var stopWorkers = new CancellationTokenSource();
        using var stopNemesis = new CancellationTokenSource();
        var workers = new List<Task>();
        int process = 0;
        for (int i = 0; i < options.RegisterWorkers; i++)
        {
            int p = ++process; // process ids are fixed before the worker starts: each is one session, one operation at a time
            int k = i;
            workers.Add(Task.Run(() => Workers.RegisterAsync(NewRecorder(p, kindIndex: k), options.RegisterKeys, options.Seed * 101 + p, options.ThinkMs, stopWorkers.Token), cancellationToken));
        }
        for (int i = 0; i < options.CounterWorkers; i++)
        {
            int p = ++process;
            int k = i;
            workers.Add(Task.Run(() => Workers.CounterAsync(NewRecorder(p, kindIndex: k), options.Seed * 103 + p, options.ThinkMs, stopWorkers.Token), cancellationToken));
        }
        var writeOnceProcesses = new List<int>();
        for (int i = 0; i < options.WriteOnceWorkers; i++)
        {
            writeOnceProcesses.Add(++process);
            int p = process;
            int k = i;
            workers.Add(Task.Run(() => Workers.WriteOnceAsync(NewRecorder(p, kindIndex: k), options.Seed * 107 + p, options.ThinkMs, stopWorkers.Token), cancellationToken));
        }
        foreach (ChaosNode node in cluster.Nodes)
        {
            int p = ++process;
            workers.Add(Task.Run(() => Workers.PinnedReaderAsync(NewRecorder(p, [node.Id]), options.RegisterKeys, options.Seed * 109 + p, options.ThinkMs * 2, stopWorkers.Token), cancellationToken));
        }

        var schedule = new FaultSchedule(options.Seed, kinds, options.MinFaultMs, options.MaxFaultMs, options.MinQuietMs, options.MaxQuietMs);
        // A short calm start, so the first fault hits a cluster under load.
        Task nemesisTask = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2), stopNemesis.Token).ConfigureAwait(false);
            await nemesis.RunAsync(schedule, stopNemesis.Token).ConfigureAwait(false);
        }, cancellationToken);
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < options.Duration && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(10, Math.Max(0.1, (options.Duration - stopwatch.Elapsed).TotalSeconds))), cancellationToken).ConfigureAwait(false);
            var ops = history.Snapshot();
            Log($"  t={stopwatch.Elapsed.TotalSeconds:F0}s ops={ops.Count} ok={ops.Count(o => o.Outcome == Outcome.Ok)} info={ops.Count(o => o.Outcome == Outcome.Info)} faults={nemesis.Counts.Values.Sum()}");
        }
        stopNemesis.Cancel();
        try
        {
            await nemesisTask.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        nemesis.HealEverything();
        if (!await nemesis.RestoreMembershipAsync().ConfigureAwait(false)) Log("  warning: a replaced node is not a voter again; the convergence check will say which");
        long healedUs = history.NowUs();
        stopWorkers.Cancel();
        await Task.WhenAll(workers).ConfigureAwait(false);
        lock (clients) Log($"  client kinds: {string.Join(" ", processKinds.Select(kv => $"p{kv.Key}={kv.Value}"))}");
        Log("  faults stopped and healed; workers stopped; reading every key back");

        // ---- final reads: after healing, through the whole cluster, retried until they succeed ----
        var operations = history.Snapshot();
        var registerKeys = Enumerable.Range(0, options.RegisterKeys).Select(WorkloadKeys.Register).ToList();
        var writeOnceKeys = operations.Where(o => o.Kind == OpKind.Put && o.Key.StartsWith(WorkloadKeys.WriteOncePrefix, StringComparison.Ordinal) && o.Outcome != Outcome.Fail)
            .Select(o => o.Key).Distinct().ToList();
        var finalValues = new System.Collections.Concurrent.ConcurrentDictionary<string, string?>(StringComparer.Ordinal);
        var finalDeadline = Stopwatch.StartNew();
        var finalReaders = Enumerable.Range(0, 8).Select(i => NewRecorder(FinalReaderProcess + i)).ToArray();
        int nextReader = 0;
        await Parallel.ForEachAsync(registerKeys.Append(WorkloadKeys.Counter).Concat(writeOnceKeys),
            new ParallelOptions { MaxDegreeOfParallelism = finalReaders.Length, CancellationToken = cancellationToken }, async (key, ct) =>
            {
                RecordingClient reader = finalReaders[Interlocked.Increment(ref nextReader) % finalReaders.Length];
                while (finalDeadline.Elapsed < RecoveryTimeout)
                {
                    Operation read = await reader.GetAsync(key).ConfigureAwait(false);
                    if (read.Outcome == Outcome.Ok)
                    {
                        finalValues[key] = read.Value;
                        return;
                    }
                    await Task.Delay(PollInterval, ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);

        // ---- convergence: same applied index and same state digest on every node ----
        IReadOnlyList<NodeState?> states = [];
        var converged = new ConvergenceChecker.Verdict(false, "not checked");
        var convergeDeadline = Stopwatch.StartNew();
        while (convergeDeadline.Elapsed < RecoveryTimeout)
        {
            // A node may stop by itself after the heal (fail-stop after a full disk takes a while): a supervisor restarts it.
            nemesis.RestartStopped("convergence check");
            states = await Task.WhenAll(cluster.Nodes.Select(n => NodeStateAsync(cluster, n, writeOnceProcesses, cancellationToken))).ConfigureAwait(false);
            converged = ConvergenceChecker.Check(states);
            if (converged.Converged) break;
            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }

        foreach (var client in clients) await client.DisposeAsync().ConfigureAwait(false);

        // ---- check ----
        operations = history.Snapshot();
        Log($"  checking {operations.Count} operations");
        var checkWatch = Stopwatch.StartNew();
        var linearizability = LinearizabilityChecker.CheckAll(operations, registerKeys.Append(WorkloadKeys.Counter));
        var counter = CounterChecker.Check(operations, WorkloadKeys.Counter, finalValues.TryGetValue(WorkloadKeys.Counter, out string? c) ? CounterChecker.Parse(c) : null);
        var lostWriteOnce = LostWriteChecker.CheckWriteOnce(operations, WorkloadKeys.WriteOncePrefix, finalValues);
        var lostRegister = LostWriteChecker.CheckRegisters(operations, finalValues.Where(kv => registerKeys.Contains(kv.Key)).ToDictionary());
        Log($"  checked in {checkWatch.Elapsed.TotalSeconds:F1} s");

        var report = new ChaosReport
        {
            Options = options, Directory = directory, Operations = operations, Timeline = timeline.Events, FaultCounts = nemesis.Counts,
            Linearizability = linearizability, Counter = counter, LostWrites = [.. lostWriteOnce, .. lostRegister], Convergence = converged,
            NodeStates = states, FinalReadsMissing = registerKeys.Append(WorkloadKeys.Counter).Concat(writeOnceKeys).Count(k => !finalValues.ContainsKey(k)),
            HealedUs = healedUs, UnsupportedFaults = unsupported,
        };
        report.Write();
        return report;
    }

    private static bool Supported(FaultKind kind, ChaosCluster cluster, out string why)
    {
        why = "";
        if (kind.NeedsNetwork() && cluster.Network is null) why = "no network namespaces";
        else if (kind == FaultKind.ClockSkew && !cluster.ClockFaultsSupported) why = "libfaketime (package faketime) not installed";
        else if (kind == FaultKind.DiskFull && !cluster.DiskFaultsSupported) why = "data directories not on tmpfs (needs root)";
        else if (kind is FaultKind.PartitionMajorityMinority or FaultKind.Bridge or FaultKind.ReplaceMember && cluster.Nodes.Count < 3) why = "needs 3 nodes";
        else if (kind == FaultKind.TransferLeader && cluster.Nodes.Count < 2) why = "needs 2 nodes";
        return why.Length == 0;
    }

    /// <summary>A node's applied index and a digest of every workload key it holds, read from its local state.</summary>
    private static async Task<NodeState?> NodeStateAsync(ChaosCluster cluster, ChaosNode node, IReadOnlyList<int> writeOnceProcesses, CancellationToken cancellationToken)
    {
        var status = await cluster.StatusAsync(node.Id, cancellationToken).ConfigureAwait(false);
        if (status is null) return null;
        using var client = new RaftKvClient(new RaftKvClientOptions { Endpoints = [node.ClientAddress], MaxAttempts = 1, AttemptTimeoutMs = 5_000 });
        try
        {
            var prefixes = new List<string> { WorkloadKeys.RegisterPrefix, "c/" };
            var items = new List<KvItem>();
            foreach (string prefix in prefixes) items.AddRange(await client.ScanAsync(prefix, 10_000, ReadConsistency.Stale, cancellationToken).ConfigureAwait(false));
            foreach (int p in writeOnceProcesses)
            {
                for (int bucket = 0; ; bucket++)
                {
                    var found = await client.ScanAsync(WorkloadKeys.WriteOnceBucketPrefix(p, bucket), 10_000, ReadConsistency.Stale, cancellationToken).ConfigureAwait(false);
                    if (found.Count == 0 && bucket > 0) break;
                    items.AddRange(found);
                }
            }
            // Re-read the status: the digest is only meaningful if nothing was applied while scanning.
            var after = await cluster.StatusAsync(node.Id, cancellationToken).ConfigureAwait(false);
            if (after is null || after.AppliedIndex != status.AppliedIndex) return null;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (KvItem item in items.OrderBy(i => Convert.ToHexString(i.Key), StringComparer.Ordinal))
            {
                hash.AppendData(item.Key);
                hash.AppendData(item.Value);
                hash.AppendData(BitConverter.GetBytes(item.CreateRevision));
                hash.AppendData(BitConverter.GetBytes(item.ModRevision));
            }
            string digest = $"{items.Count} keys, sha256 {Convert.ToHexString(hash.GetHashAndReset())[..16]}";
            return new NodeState(status.NodeId, status.CommitIndex, status.AppliedIndex, digest);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (await condition().ConfigureAwait(false)) return;
            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
        throw new TimeoutException($"{what} did not happen within {timeout}");
    }

    private void Log(string line)
    {
        lock (_progress) _progress.WriteLine(line);
    }
}
