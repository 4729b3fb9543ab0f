using System.Globalization;
using System.Net;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using RaftKv.Client;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>
/// What operators' tools see of real silo processes: Prometheus text at /metrics on the HTTP/1.1 monitoring port,
/// /healthz and /readyz there, and the standard gRPC health and reflection services on the client port.
/// </summary>
[Collection("silo processes")]
public sealed class MonitoringTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Metrics_show_the_Raft_WAL_and_gateway_meters_and_the_commit_index_grows_with_writes()
    {
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(Deadline);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        string before = await http.GetStringAsync($"{cluster.HttpAddress(leader)}/metrics");
        long commitBefore = Value(before, "raftkv_raft_commit_index", $"node_id=\"{leader}\"");
        Assert.Equal(3, Value(before, "raftkv_raft_role", $"node_id=\"{leader}\"")); // RaftRole.Leader
        Assert.True(Value(before, "raftkv_raft_term", $"node_id=\"{leader}\"") >= 1);

        await using (RaftKvClient client = cluster.NewClient(leader))
        {
            for (int i = 0; i < 20; i++) await client.PutAsync($"m{i}", $"v{i}");
        }

        string after = "";
        await cluster.WaitUntilAsync(async () =>
        {
            after = await http.GetStringAsync($"{cluster.HttpAddress(leader)}/metrics");
            // The follower lag gauges are copied out once per heartbeat interval; wait until they have caught up too.
            return Value(after, "raftkv_raft_commit_index", $"node_id=\"{leader}\"") >= commitBefore + 20
                && Lines(after, "raftkv_raft_replication_match_index").Count() == 2
                && Lines(after, "raftkv_raft_replication_match_index").All(line => ValueOf(line) >= commitBefore + 20);
        }, Deadline, "the leader's /metrics showing 20 more committed entries and both followers holding them");

        Assert.True(Value(after, "raftkv_raft_applied_index", $"node_id=\"{leader}\"") >= commitBefore + 20);
        Assert.True(Value(after, "raftkv_raft_proposals_total", "outcome=\"accepted\"") >= 20);
        Assert.True(Value(after, "raftkv_wal_fsync_duration_seconds_count", $"node_id=\"{leader}\"") >= 1);
        Assert.True(Value(after, "raftkv_wal_write_duration_seconds_count", $"node_id=\"{leader}\"") >= 1);
        Assert.True(Value(after, "raftkv_state_machine_apply_duration_seconds_count", $"node_id=\"{leader}\"") >= 1);
        Assert.True(Value(after, "raftkv_gateway_requests_total", "method=\"Put\"", "status=\"OK\"") >= 20);
        Assert.Contains("raftkv_raft_persist_duration_seconds_bucket", after, StringComparison.Ordinal);
        foreach (string line in Lines(after, "raftkv_raft_replication_lag")) Assert.InRange(ValueOf(line), 0, 1_000);
        // The runtime's meter beside ours, to tell a GC pause or a starved thread pool from a slow disk.
        Assert.True(Lines(after, "dotnet_gc_collections_total").Any(), "no GC collection counts in /metrics");
        Assert.True(Lines(after, "dotnet_process_cpu_time_seconds_total").Sum(ValueOf) > 0, "no process CPU time in /metrics");
        Assert.True(Lines(after, "dotnet_gc_pause_time_seconds_total").Any(), "no GC pause time in /metrics");
        Assert.True(Lines(after, "dotnet_thread_pool_queue_length_total").Any(), "no thread-pool queue length in /metrics");

        // Every node serves its own meters; a follower's commit index follows the leader's.
        ulong follower = cluster.Members.Select(m => m.Id).First(id => id != leader);
        await cluster.WaitUntilAsync(async () =>
        {
            string text = await http.GetStringAsync($"{cluster.HttpAddress(follower)}/metrics");
            return Value(text, "raftkv_raft_commit_index", $"node_id=\"{follower}\"") >= commitBefore + 20
                && Value(text, "raftkv_raft_leader", $"node_id=\"{follower}\"") == (long)leader;
        }, Deadline, "a follower's /metrics showing the writes committed and the leader");
    }

    [Fact]
    public async Task Readyz_fails_on_a_node_cut_off_from_its_leader_and_recovers_after_healing()
    {
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(Deadline);
        ulong isolated = cluster.Members.Select(m => m.Id).First(id => id != leader);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        foreach (ulong id in cluster.Members.Select(m => m.Id))
        {
            await cluster.WaitUntilAsync(async () => (await GetAsync(http, $"{cluster.HttpAddress(id)}/readyz")).Status == HttpStatusCode.OK,
                Deadline, $"node {id} ready");
            (HttpStatusCode live, string liveText) = await GetAsync(http, $"{cluster.HttpAddress(id)}/healthz");
            Assert.Equal(HttpStatusCode.OK, live);
            Assert.StartsWith("ok", liveText, StringComparison.Ordinal);
        }
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcHealthAsync(cluster.ClientAddress(isolated)));

        await cluster.IsolateAsync(isolated, true);
        string reason = "";
        await cluster.WaitUntilAsync(async () =>
        {
            (HttpStatusCode status, string text) = await GetAsync(http, $"{cluster.HttpAddress(isolated)}/readyz");
            reason = text;
            return status == HttpStatusCode.ServiceUnavailable;
        }, Deadline, $"node {isolated}'s /readyz failing once it is cut off");
        Assert.Contains("not ready", reason, StringComparison.Ordinal);
        Assert.Contains("knows no leader", reason, StringComparison.Ordinal);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await GrpcHealthAsync(cluster.ClientAddress(isolated)));
        // The process is still up, and the rest of the cluster still serves.
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, $"{cluster.HttpAddress(isolated)}/healthz")).Status);
        // On a busy machine the majority may hold an election of its own meanwhile (a slow step, event 1108): the leader's
        // side must be ready again within the deadline, not necessarily at this very instant.
        await cluster.WaitUntilAsync(async () => (await GetAsync(http, $"{cluster.HttpAddress(leader)}/readyz")).Status == HttpStatusCode.OK,
            Deadline, $"node {leader} (the majority's side) ready while node {isolated} is cut off");

        await cluster.IsolateAsync(isolated, false);
        await cluster.WaitUntilAsync(async () => (await GetAsync(http, $"{cluster.HttpAddress(isolated)}/readyz")).Status == HttpStatusCode.OK,
            Deadline, $"node {isolated}'s /readyz passing again after healing");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcHealthAsync(cluster.ClientAddress(isolated)));
    }

    [Fact]
    public async Task The_client_port_answers_the_standard_gRPC_health_and_reflection_services()
    {
        await using var cluster = new SiloProcessCluster();
        await cluster.WaitForLeaderAsync(Deadline);
        string address = cluster.ClientAddress(cluster.Members[0].Id);
        await cluster.WaitUntilAsync(async () => await GrpcHealthAsync(address) == HealthCheckResponse.Types.ServingStatus.Serving,
            Deadline, "the health service answering SERVING");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await GrpcHealthAsync(address, "raftkv.v1.KV"));

        using GrpcChannel channel = GrpcChannel.ForAddress(address);
        var reflection = new ServerReflection.ServerReflectionClient(channel);
        using AsyncDuplexStreamingCall<ServerReflectionRequest, ServerReflectionResponse> call = reflection.ServerReflectionInfo(deadline: DateTime.UtcNow.AddSeconds(10));
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("raftkv.v1.KV", services);
        Assert.Contains("grpc.health.v1.Health", services);

        // A stock tool then asks for the file that defines the service, to learn its methods.
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "raftkv.v1.KV" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.NotEmpty(call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task A_peer_port_that_differs_from_the_advertised_one_is_reported_by_the_node_and_by_its_peers()
    {
        int wrongPort = LoopbackPorts.Free(1)[0];
        await using var cluster = new SiloProcessCluster(nodeArguments: id => id == 3 ? [$"--RaftKv:PeerListenAddress=http://127.0.0.1:{wrongPort}"] : []);
        string advertised = cluster.Members.Single(m => m.Id == 3).PeerAddress;
        await cluster.WaitUntilAsync(() => Task.FromResult(
                cluster.Log(3).Contains("RaftKv:PeerListenAddress listens on port " + wrongPort, StringComparison.Ordinal)
                && cluster.Log(3).Contains(advertised, StringComparison.Ordinal)),
            Deadline, "node 3 warning that its peer listen port differs from its advertised peer address");
        await cluster.WaitUntilAsync(() => Task.FromResult(cluster.Log(3).Contains("does not reach this silo", StringComparison.Ordinal)),
            Deadline, "node 3 warning that its advertised peer address does not reach it");
        // Nodes 1 and 2 cannot reach node 3 at the address they were given, and say so, naming it.
        var unreachable = new System.Text.RegularExpressions.Regex($@"Cannot reach peer 3 at (http://)?{System.Text.RegularExpressions.Regex.Escape(new Uri(advertised).Authority)}");
        await cluster.WaitUntilAsync(() => Task.FromResult(new ulong[] { 1, 2 }.All(id => unreachable.IsMatch(cluster.Log(id)))),
            Deadline, "nodes 1 and 2 warning that peer 3 is unreachable at its advertised address");
        // And their majority still serves.
        await using RaftKvClient client = cluster.NewClient(1, 2);
        await client.PutAsync("still", "serving");
    }

    private static async Task<(HttpStatusCode Status, string Text)> GetAsync(HttpClient http, string url)
    {
        try
        {
            using HttpResponseMessage response = await http.GetAsync(url);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return (0, e.Message);
        }
    }

    private static async Task<HealthCheckResponse.Types.ServingStatus> GrpcHealthAsync(string address, string service = "")
    {
        using GrpcChannel channel = GrpcChannel.ForAddress(address);
        HealthCheckResponse response = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = service },
            deadline: DateTime.UtcNow.AddSeconds(5));
        return response.Status;
    }

    /// <summary>Sample lines of one metric (exactly that name, any labels).</summary>
    private static IEnumerable<string> Lines(string text, string metric) =>
        text.Split('\n').Where(line => line.StartsWith(metric + "{", StringComparison.Ordinal) || line.StartsWith(metric + " ", StringComparison.Ordinal));

    /// <summary>The value of the first sample of <paramref name="metric"/> carrying every label in <paramref name="labels"/>.</summary>
    private static long Value(string text, string metric, params string[] labels)
    {
        string? line = Lines(text, metric).FirstOrDefault(l => labels.All(label => l.Contains(label, StringComparison.Ordinal)));
        Assert.True(line is not null, $"no sample of {metric} with {string.Join(",", labels)} in /metrics:\n{text}");
        return ValueOf(line);
    }

    private static long ValueOf(string line) => (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
}
