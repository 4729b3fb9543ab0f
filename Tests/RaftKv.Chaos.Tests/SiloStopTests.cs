using System.Diagnostics;
using RaftKv.Chaos.Cluster;

namespace RaftKv.Chaos.Tests;

/// <summary>
/// Regression (found by the chaos runner's disk-full fault): a silo that stops — gracefully, or fail-stop after an
/// I/O error, which takes the same path — waited the host's default 30 s shutdown timeout, because peers never close
/// their Raft streams into it, so it stayed up refusing everything before a supervisor could restart it. Now the
/// wait is bounded by RaftKv:ShutdownTimeoutMs (3 s by default).
/// </summary>
public sealed class SiloStopTests
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task A_silo_asked_to_stop_exits_while_its_peers_still_hold_streams_into_it()
    {
        string directory = Path.Combine(Path.GetTempPath(), "raftkv-stop-" + Guid.NewGuid().ToString("N")[..8]);
        var exited = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (var cluster = new ChaosCluster(new ChaosClusterOptions
        {
            Nodes = 3, RunId = (int)((uint)(Environment.ProcessId + 1) % 200), RunDirectory = directory,
            NetworkNamespaces = false, FakeTime = false, TmpfsBytes = 0,
        }))
        {
            cluster.NodeExited += (id, code) => exited.TrySetResult(id);
            foreach (ChaosNode node in cluster.Nodes) cluster.Start(node.Id);
            var deadline = Stopwatch.StartNew();
            int? leader = null;
            while (leader is null && deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                leader = await cluster.LeaderAsync();
                if (leader is null) await Task.Delay(PollInterval);
            }
            Assert.NotNull(leader);
            // Every peer has its streams open into the leader once followers acknowledged it.
            int follower = cluster.Nodes.First(n => n.Id != leader).Id;
            cluster.Terminate(leader.Value);
            // Well below the old 30 s wait, well above the new 3 s bound plus a loaded machine's stop work.
            int id;
            try
            {
                id = await exited.Task.WaitAsync(TimeSpan.FromSeconds(20));
            }
            catch (TimeoutException)
            {
                string[] log = File.ReadAllLines(cluster.Node(leader.Value).LogFile);
                throw new TimeoutException($"node {leader} still running 20 s after SIGTERM; its log ends:\n{string.Join("\n", log.TakeLast(40))}");
            }
            Assert.Equal(leader.Value, id);
            Assert.True(cluster.IsRunning(follower));
        }
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
