using System.Net;
using Orleans;
using Orleans.Runtime;
using RaftKv.Grains.Membership;
using RaftKv.TestingHost;

namespace RaftKv.Membership.Tests;

/// <summary>Silo processes share the machine's two cores: one cluster at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SiloProcesses
{
    public const string Name = "membership silo processes";
}

/// <summary>A real 3-node RaftKv cluster (silo processes) for the membership table to live in.</summary>
public sealed class MembershipCluster : IAsyncLifetime
{
    public static readonly TimeSpan ElectionDeadline = TimeSpan.FromSeconds(60);

    /// <summary>The ports this test project may use.</summary>
    public static readonly (int First, int Last) PortRange = (21_000, 22_000);

    private int _nextClusterId;

    public SiloProcessCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = new SiloProcessCluster(3, portRange: PortRange);
        await Cluster.WaitForLeaderAsync(ElectionDeadline);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>A fresh Orleans cluster id, so tests sharing one RaftKv cluster never see each other's tables.</summary>
    public string NewClusterId() => $"test-{Interlocked.Increment(ref _nextClusterId)}-{Guid.NewGuid():N}"[..24];

    /// <summary>One table client, as one silo would have it (its own RaftKv session).</summary>
    public RaftKvMembershipTable NewTable(string clusterId) => new(Options(), clusterId);

    public RaftKvClusteringOptions Options() => new() { Endpoints = [.. Cluster.ClientAddresses], AttemptTimeoutMs = 2_000, MaxAttempts = 40 };

    public static MembershipEntry Entry(int port, int generation = 1, SiloStatus status = SiloStatus.Joining, DateTime? iAmAlive = null)
    {
        DateTime now = DateTime.UtcNow;
        return new MembershipEntry
        {
            SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), generation),
            Status = status,
            ProxyPort = port + 1000,
            HostName = "localhost",
            SiloName = $"silo-{port}",
            StartTime = now,
            IAmAliveTime = iAmAlive ?? now,
        };
    }
}
