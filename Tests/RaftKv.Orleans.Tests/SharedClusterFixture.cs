using RaftKv.TestingHost;

namespace RaftKv.Orleans.Tests;

/// <summary>One 3-silo RaftKv TestCluster for the tests that leave every silo running and connected.</summary>
public sealed class SharedClusterFixture : IAsyncLifetime
{
    public RaftKvTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await RaftKvTestCluster.StartAsync();
        await Cluster.WaitForLeaderAsync(Deadlines.Election);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

internal static class Deadlines
{
    /// <summary>Generous on a shared 2-core machine: elections take about a second, silo starts several.</summary>
    public static readonly TimeSpan Election = TimeSpan.FromSeconds(30);
}

/// <summary>Every cluster of this project runs alone: several in-process clusters at once starve 2 cores.</summary>
[CollectionDefinition("raftkv test clusters", DisableParallelization = true)]
public sealed class TestClusterCollection : ICollectionFixture<SharedClusterFixture>;
