using System.Text;
using Orleans.TestingHost;
using RaftKv.Grains;
using RaftKv.TestingHost;
using static RaftKv.Orleans.Tests.KvGrainTests;

namespace RaftKv.Orleans.Tests;

/// <summary>Tests that stop or isolate silos get a cluster of their own.</summary>
[Collection("raftkv test clusters")]
public sealed class FaultTests
{
    [Fact]
    public async Task A_stopped_and_restarted_silo_catches_up_with_the_writes_it_missed()
    {
        await using RaftKvTestCluster cluster = await RaftKvTestCluster.StartAsync();
        await cluster.WaitForLeaderAsync(Deadlines.Election);
        IKvGrain before = cluster.Client.GetKvGrain("restart/before");
        await before.PutAsync(Utf8("1"));

        // A secondary: the primary silo holds TestingHost's membership table.
        SiloHandle stopped = cluster.Cluster.SecondarySilos[^1];
        ulong stoppedNode = cluster.NodeIdOf(stopped);
        await cluster.StopSiloAsync(stopped);

        KvWriteResult missed = default!;
        for (int i = 0; i < 20; i++) missed = await cluster.Client.GetKvGrain($"restart/missed/{i}").PutAsync(Utf8($"v{i}"));

        SiloHandle restarted = await cluster.RestartSiloAsync(stopped.InstanceNumber);
        Assert.Equal(stoppedNode, cluster.NodeIdOf(restarted));
        IRaftNodeService node = cluster.RaftNodeOf(restarted);
        // A stale read shows what the restarted node itself has applied: it must reach the last write it missed.
        await RaftKvTestCluster.WaitUntilAsync(async () =>
        {
            try
            {
                KvItem? item = await node.ReadAsync(Utf8("restart/missed/19"), ReadConsistency.Stale);
                return item is not null && item.ModRevision == missed.ModRevision;
            }
            catch (RaftKvException)
            {
                return false;
            }
        }, Deadlines.Election, "the restarted node applying the writes it missed");
        KvItem? first = await node.ReadAsync(Utf8("restart/before"), ReadConsistency.Linearizable);
        Assert.Equal("1", Encoding.UTF8.GetString(first!.Value));
    }

    [Fact]
    public async Task A_linearizable_read_on_an_isolated_old_leader_fails_instead_of_returning_stale_data()
    {
        await using RaftKvTestCluster cluster = await RaftKvTestCluster.StartAsync();
        SiloHandle oldLeader = await cluster.WaitForLeaderAsync(Deadlines.Election);
        IKvGrain grain = cluster.Client.GetKvGrain("isolated/x");
        await grain.PutAsync(Utf8("old"));

        cluster.Isolate(oldLeader, true);
        // The majority elects a new leader; the grains find it (the old leader's silo still answers over Orleans).
        KvWriteResult? written = null;
        await RaftKvTestCluster.WaitUntilAsync(async () =>
        {
            try
            {
                written = await grain.PutAsync(Utf8("new"));
                return true;
            }
            catch (RaftKvException e) when (e.IsRetryable)
            {
                return false;
            }
        }, Deadlines.Election, "a write through the new majority");
        Assert.Equal(KvWriteStatus.Ok, written!.Status);

        IRaftNodeService isolated = cluster.RaftNodeOf(oldLeader);
        RaftKvException refused = await Assert.ThrowsAnyAsync<RaftKvException>(() => isolated.ReadAsync(Utf8("isolated/x"), ReadConsistency.Linearizable));
        Assert.True(refused.IsRetryable, refused.Message);

        // A stale read, asked for by name, is the only way to see the old value there.
        KvItem? stale = await isolated.ReadAsync(Utf8("isolated/x"), ReadConsistency.Stale);
        Assert.Equal("old", Encoding.UTF8.GetString(stale!.Value));

        cluster.Isolate(oldLeader, false);
        await RaftKvTestCluster.WaitUntilAsync(async () =>
        {
            try
            {
                KvItem? healed = await isolated.ReadAsync(Utf8("isolated/x"), ReadConsistency.Linearizable);
                return healed is not null && Encoding.UTF8.GetString(healed.Value) == "new";
            }
            catch (RaftKvException)
            {
                return false;
            }
        }, Deadlines.Election, "the healed node serving the new value");
    }
}
