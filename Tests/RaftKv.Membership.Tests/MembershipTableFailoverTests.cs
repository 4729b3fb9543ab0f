using Orleans;
using Orleans.Runtime;
using RaftKv.Grains.Membership;

namespace RaftKv.Membership.Tests;

/// <summary>The table lives in the replicated store, so it outlives any one RaftKv member, the leader included.</summary>
[Collection(SiloProcesses.Name)]
public sealed class MembershipTableFailoverTests(MembershipCluster fixture) : IClassFixture<MembershipCluster>
{
    [Fact]
    public async Task The_table_keeps_working_when_the_RaftKv_leader_is_killed()
    {
        await using RaftKvMembershipTable table = fixture.NewTable(fixture.NewClusterId());
        await table.InitializeMembershipTable(true);
        MembershipEntry first = MembershipCluster.Entry(19_000, status: SiloStatus.Active);
        Assert.True(await table.InsertRow(first, (await table.ReadAll()).Version.Next()));
        MembershipTableData before = await table.ReadAll();

        ulong leader = await fixture.Cluster.WaitForLeaderAsync(MembershipCluster.ElectionDeadline);
        fixture.Cluster.Kill(leader);

        // Everything below runs while the leader is dead: the client's retries find the next leader.
        MembershipTableData during = await table.ReadAll();
        Assert.Equal(before.Version, during.Version);
        MembershipEntry second = MembershipCluster.Entry(19_001, status: SiloStatus.Joining);
        Assert.True(await table.InsertRow(second, during.Version.Next()));
        MembershipTableData row = await table.ReadRow(first.SiloAddress);
        first.Status = SiloStatus.Dead;
        first.AddSuspector(second.SiloAddress, DateTime.UtcNow);
        Assert.True(await table.UpdateRow(first, row.Members[0].Item2, row.Version.Next()));
        await table.UpdateIAmAlive(MembershipCluster.Entry(19_001, iAmAlive: DateTime.UtcNow));
        ulong next = await fixture.Cluster.WaitForLeaderAsync(MembershipCluster.ElectionDeadline, not: leader);
        Assert.NotEqual(leader, next);

        // The killed member restarts and rejoins; the table holds exactly what was acknowledged.
        fixture.Cluster.Start(leader);
        await fixture.Cluster.WaitForLeaderAsync(MembershipCluster.ElectionDeadline);
        MembershipTableData after = await table.ReadAll();
        Assert.Equal(before.Version.Version + 2, after.Version.Version);
        Assert.Equal(SiloStatus.Dead, after.TryGet(first.SiloAddress)!.Item1.Status);
        Assert.Single(after.TryGet(first.SiloAddress)!.Item1.SuspectTimes!);
        Assert.Equal(SiloStatus.Joining, after.TryGet(second.SiloAddress)!.Item1.Status);
    }
}
