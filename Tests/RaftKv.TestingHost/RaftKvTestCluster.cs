using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using RaftKv.Grains;
using RaftKv.Node;
using RaftKv.Silo;

namespace RaftKv.TestingHost;

/// <summary>
/// A RaftKv-backed Orleans <see cref="TestCluster"/> for an application's own tests (and ours): in-process silos, each
/// a Raft node with its own data directory under a temporary folder and its own free mesh and gateway ports, RaftKv's
/// grains, and an Orleans client. One call starts it:
/// <code>
/// await using var raftKv = await RaftKvTestCluster.StartAsync();
/// await raftKv.Client.GetKvGrain("greeting").PutAsync("hello"u8.ToArray());
/// </code>
/// </summary>
/// <remarks>
/// In-process silos share one process, so stopping one is graceful and <c>KillSiloAsync</c> marks it dead at once:
/// neither exercises failure detection. Real-process kill -9 tests use <see cref="SiloProcessCluster"/>.
/// </remarks>
public sealed class RaftKvTestCluster : IAsyncDisposable
{
    /// <summary>How often a wait re-checks its condition; every wait also has a deadline.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private RaftKvTestCluster(TestCluster cluster, string dataRoot)
    {
        Cluster = cluster;
        DataRoot = dataRoot;
    }

    public TestCluster Cluster { get; }

    public IClusterClient Client => Cluster.Client;

    /// <summary>The folder holding node1, node2, ... (deleted on dispose).</summary>
    public string DataRoot { get; }

    /// <summary>
    /// Builds and deploys a cluster of <paramref name="silos"/> RaftKv silos. <paramref name="configure"/> may change
    /// the builder further (options, configurators, "RaftKv:*" settings through ConfigureHostConfiguration).
    /// </summary>
    public static async Task<RaftKvTestCluster> StartAsync(int silos = 3, Action<TestClusterBuilder>? configure = null)
    {
        var builder = new TestClusterBuilder((short)silos);
        string dataRoot = builder.AddRaftKv();
        configure?.Invoke(builder);
        TestCluster cluster = builder.Build();
        try
        {
            await cluster.DeployAsync().ConfigureAwait(false);
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            TryDelete(dataRoot);
            throw;
        }
        return new RaftKvTestCluster(cluster, dataRoot);
    }

    /// <summary>The silos running now.</summary>
    public IReadOnlyList<SiloHandle> Silos => [.. Cluster.GetActiveSilos()];

    /// <summary>The DI container of a silo (the one its Kestrel shares).</summary>
    public IServiceProvider ServicesOf(SiloHandle silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        return Cluster.GetSiloServiceProvider(silo.SiloAddress);
    }

    /// <summary>The Raft node a silo hosts.</summary>
    public ulong NodeIdOf(SiloHandle silo) => RaftKvSiloConfigurator.NodeIdOf(silo.Name);

    /// <summary>The RaftNode grain service of <paramref name="silo"/>, called from inside that silo.</summary>
    public IRaftNodeService RaftNodeOf(SiloHandle silo) => ServicesOf(silo).GetRequiredService<IRaftNodeServiceClient>().On(silo.SiloAddress);

    /// <summary>Stops a silo gracefully; its node stops after the silo, keeping its data directory.</summary>
    public Task StopSiloAsync(SiloHandle silo) => Cluster.StopSiloAsync(silo);

    /// <summary>Starts the silo with <paramref name="instanceNumber"/> again: the same node, from its data directory.</summary>
    public Task<SiloHandle> RestartSiloAsync(int instanceNumber) => TestCluster.StartSiloAsync(Cluster, instanceNumber, Cluster.Options);

    /// <summary>Test fault: cuts the silo's Raft node off from its peers in both directions (Orleans traffic still flows).</summary>
    public void Isolate(SiloHandle silo, bool isolated)
    {
        RaftDriver driver = ServicesOf(silo).GetRequiredService<SiloNode>().Runtime.Driver
            ?? throw new InvalidOperationException($"the node of silo {silo.Name} is not running");
        driver.Isolated = isolated;
    }

    /// <summary>Waits until every running silo's node names the same leader, and returns the silo hosting it.</summary>
    public async Task<SiloHandle> WaitForLeaderAsync(TimeSpan timeout)
    {
        SiloHandle? leader = null;
        await WaitUntilAsync(async () =>
        {
            var statuses = new List<(SiloHandle Silo, RaftNodeStatus Status)>();
            foreach (SiloHandle silo in Silos)
            {
                try
                {
                    statuses.Add((silo, await RaftNodeOf(silo).GetStatusAsync().ConfigureAwait(false)));
                }
                catch (Exception e) when (e is RaftKvException or OrleansException or TimeoutException)
                {
                    return false;
                }
            }
            var leaders = statuses.Where(s => s.Status.Role == RaftNodeRole.Leader).ToList();
            if (leaders.Count != 1 || !statuses.All(s => s.Status.LeaderId == leaders[0].Status.NodeId)) return false;
            leader = leaders[0].Silo;
            return true;
        }, timeout, "a leader known to every silo").ConfigureAwait(false);
        return leader!;
    }

    /// <summary>Re-checks <paramref name="condition"/> until it holds; throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var elapsed = Stopwatch.StartNew();
        while (elapsed.Elapsed < timeout)
        {
            if (await condition().ConfigureAwait(false)) return;
            await Task.Delay(PollInterval).ConfigureAwait(false);
        }
        throw new TimeoutException($"{what} did not happen within {timeout}");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cluster.StopAllSilosAsync().ConfigureAwait(false);
        }
        finally
        {
            await Cluster.DisposeAsync().ConfigureAwait(false);
            TryDelete(DataRoot);
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

public static class RaftKvTestClusterBuilderExtensions
{
    /// <summary>
    /// Makes every silo of <paramref name="builder"/> a RaftKv node: one Raft member per initial silo with free
    /// loopback mesh and gateway ports, data directories under <paramref name="dataRoot"/> (a new temporary folder
    /// by default), Kestrel sharing each silo's DI container, and RaftKv's grains. Returns the data root.
    /// </summary>
    public static string AddRaftKv(this TestClusterBuilder builder, string? dataRoot = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        int silos = builder.Options.InitialSilosCount;
        dataRoot ??= Path.Combine(Path.GetTempPath(), "raftkv-tc-" + Guid.NewGuid().ToString("N")[..8]);
        int[] ports = LoopbackPorts.Free(2 * silos);
        var settings = new Dictionary<string, string?> { [RaftKvSiloConfigurator.DataRootKey] = dataRoot };
        for (int i = 0; i < silos; i++)
        {
            settings[$"{NodeOptions.SectionName}:Members:{i}:Id"] = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            settings[$"{NodeOptions.SectionName}:Members:{i}:PeerAddress"] = $"http://127.0.0.1:{ports[i]}";
            settings[$"{NodeOptions.SectionName}:Members:{i}:ClientAddress"] = $"http://127.0.0.1:{ports[silos + i]}";
        }
        builder.ConfigureHostConfiguration(configuration => configuration.AddInMemoryCollection(settings));
        builder.AddSiloBuilderConfigurator<RaftKvSiloConfigurator>();
        return dataRoot;
    }
}
