using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.Node;
using RaftKv.TestingHost;

// Leadership handover, measured from outside on a 3-silo cluster of real processes:
//   transfer: from the `leader transfer` call (raftkv.v1.Cluster/LeaderTransfer) to the first write the target
//             acknowledges as leader (Put with "raftkv-no-forward: 1" sent to the target, repeated until it succeeds);
//   kill -9:  from SIGKILL of the leader to the first write acknowledged by the cluster (Put sent to the survivors in
//             turn, followers forwarding), then the killed silo is restarted and caught up before the next trial.
//   dotnet run -c Release --project bench/RaftKv.LeaderChangeBench -- [--trials 20] [--ports 22000-23999] [--election-timeout-ms N]
//                                                                     [--heartbeat-interval-ms N]   (default: NodeOptions' defaults)
int trials = 20, electionTimeoutMs = new NodeOptions().ElectionTimeoutMs, heartbeatIntervalMs = new NodeOptions().HeartbeatIntervalMs;
(int First, int Last)? ports = null;
for (int i = 0; i < args.Length; i++)
{
    string value = i + 1 < args.Length ? args[i + 1] : "";
    switch (args[i])
    {
        case "--trials" when int.TryParse(value, out int t) && t > 0: trials = t; i++; break;
        case "--election-timeout-ms" when int.TryParse(value, out int e) && e > 0: electionTimeoutMs = e; i++; break;
        case "--heartbeat-interval-ms" when int.TryParse(value, out int h) && h > 0: heartbeatIntervalMs = h; i++; break;
        case "--ports" when value.Split('-') is [var first, var last] && int.TryParse(first, out int f) && int.TryParse(last, out int l) && l > f:
            ports = (f, l + 1); i++; break;
        default:
            Console.Error.WriteLine($"unknown or invalid argument '{args[i]}'\nusage: [--trials 20] [--ports 22000-23999] [--election-timeout-ms N] [--heartbeat-interval-ms N]");
            return 2;
    }
}

string[] siloArguments = ["--RaftKv:SnapshotThresholdBytes=1048576", "--Logging:LogLevel:Default=Warning", $"--RaftKv:ElectionTimeoutMs={electionTimeoutMs}",
    $"--RaftKv:HeartbeatIntervalMs={heartbeatIntervalMs}"];
Console.WriteLine($"3 silos, election timeout {electionTimeoutMs} ms, heartbeat {heartbeatIntervalMs} ms, {trials} trials of each kind; probe writes every ~1 ms");
await using var cluster = new SiloProcessCluster(3, siloArguments, ports);
TimeSpan deadline = TimeSpan.FromSeconds(120);
await cluster.WaitForLeaderAsync(deadline);
await using RaftKvClient admin = cluster.NewClient();
await admin.PutAsync("warm-up", "1");

var channels = cluster.Members.ToDictionary(m => m.Id, m => GrpcChannel.ForAddress(m.ClientAddress));
ulong session = (await new KV.KVClient(channels[1]).RegisterSessionAsync(new RegisterSessionRequest(), deadline: DateTime.UtcNow.AddSeconds(10))).SessionId;
ulong sequence = 0;

// Every probe write carries the next sequence number of one session: a refused attempt (not leader) applied nothing,
// and a higher number is always accepted, so the probes never collide with each other.
async Task<bool> TryWriteAsync(ulong node, bool leaderOnly)
{
    var headers = leaderOnly ? new Metadata { { KvMetadata.NoForwardHeader, "1" } } : [];
    try
    {
        await new KV.KVClient(channels[node]).PutAsync(new PutRequest
        {
            SessionId = session, Sequence = ++sequence, Key = ByteString.CopyFromUtf8("probe"), Value = ByteString.CopyFromUtf8(sequence.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        }, headers, deadline: DateTime.UtcNow.AddMilliseconds(500));
        return true;
    }
    catch (RpcException)
    {
        return false;
    }
}

var transfers = new List<double>();
var transferCalls = new List<double>();
Console.WriteLine();
Console.WriteLine("trial  kind      from  to  call-returned-ms  writes-served-ms");
for (int trial = 1; trial <= trials; trial++)
{
    ulong leader = await cluster.WaitForLeaderAsync(deadline);
    ulong target = cluster.Members.Select(m => m.Id).Where(id => id != leader).ElementAt(trial % 2);
    var watch = Stopwatch.StartNew();
    Task<MembershipResponse> call = admin.LeaderTransferAsync(target);
    double? callReturned = null;
    while (!await TryWriteAsync(target, leaderOnly: true))
    {
        if (call.IsCompleted) callReturned ??= watch.Elapsed.TotalMilliseconds;
        if (watch.Elapsed > deadline) throw new TimeoutException($"node {target} did not serve writes within {deadline}");
        await Task.Delay(1);
    }
    double served = watch.Elapsed.TotalMilliseconds;
    MembershipResponse moved = await call;
    callReturned ??= watch.Elapsed.TotalMilliseconds;
    if (moved.LeaderId != target) throw new InvalidOperationException($"the transfer reported leader {moved.LeaderId}, not {target}");
    transfers.Add(served);
    transferCalls.Add(callReturned.Value);
    Console.WriteLine($"{trial,5}  transfer  {leader,4}  {target,2}  {callReturned,16:F1}  {served,16:F1}");
}

var failovers = new List<double>();
for (int trial = 1; trial <= trials; trial++)
{
    ulong leader = await cluster.WaitForLeaderAsync(deadline);
    ulong[] survivors = [.. cluster.Members.Select(m => m.Id).Where(id => id != leader)];
    var watch = Stopwatch.StartNew();
    cluster.Kill(leader);
    for (int attempt = 0; !await TryWriteAsync(survivors[attempt % survivors.Length], leaderOnly: false); attempt++)
    {
        if (watch.Elapsed > deadline) throw new TimeoutException($"no write was served within {deadline} after killing node {leader}");
        await Task.Delay(1);
    }
    double served = watch.Elapsed.TotalMilliseconds;
    failovers.Add(served);
    Console.WriteLine($"{trial,5}  kill -9   {leader,4}   -  {"-",16}  {served,16:F1}");
    cluster.Start(leader);
    StatusResponse status = (await cluster.TryStatusAsync(survivors[0]))!;
    await cluster.WaitUntilAsync(async () => (await cluster.TryStatusAsync(leader))?.AppliedIndex >= status.CommitIndex, deadline, $"node {leader} catching up");
}

Console.WriteLine();
Console.WriteLine("                                 p50 ms    p99 ms    min ms    max ms");
Print("leader transfer -> writes served", transfers);
Print("leader transfer call returned   ", transferCalls);
Print("kill -9 leader -> writes served ", failovers);
foreach (GrpcChannel channel in channels.Values) channel.Dispose();
return 0;

static void Print(string what, List<double> samples)
{
    double[] sorted = [.. samples.Order()];
    double Percentile(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    Console.WriteLine($"{what}  {Percentile(0.50),8:F1}  {Percentile(0.99),8:F1}  {sorted[0],8:F1}  {sorted[^1],8:F1}   (n={sorted.Length})");
}
