using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;
using RaftKv.Grains.Membership;

namespace RaftKv.Membership.Tests;

/// <summary>
/// The <see cref="IMembershipTable"/> contract (as Orleans' own providers implement it) against a real 3-node
/// RaftKv cluster. Each test has its own Orleans cluster id, so they share one RaftKv cluster.
/// </summary>
[Collection(SiloProcesses.Name)]
public sealed class MembershipTableContractTests(MembershipCluster fixture) : IClassFixture<MembershipCluster>
{
    [Fact]
    public async Task Concurrent_inserts_with_the_same_table_version_let_exactly_one_win()
    {
        string clusterId = fixture.NewClusterId();
        RaftKvMembershipTable[] silos = [.. Enumerable.Range(0, 6).Select(_ => fixture.NewTable(clusterId))];
        try
        {
            await silos[0].InitializeMembershipTable(true);
            TableVersion version = (await silos[0].ReadAll()).Version;

            bool[] won = await Task.WhenAll(silos.Select((table, i) => table.InsertRow(MembershipCluster.Entry(11_000 + i), version.Next())));

            Assert.Equal(1, won.Count(w => w));
            MembershipTableData after = await silos[0].ReadAll();
            Assert.Equal(version.Version + 1, after.Version.Version);
            Assert.NotEqual(version.VersionEtag, after.Version.VersionEtag);
            Tuple<MembershipEntry, string> row = Assert.Single(after.Members);
            Assert.Equal(MembershipCluster.Entry(11_000 + Array.IndexOf(won, true)).SiloAddress, row.Item1.SiloAddress);

            // The winner's etag is stale now, for everyone.
            Assert.False(await silos[1].InsertRow(MembershipCluster.Entry(11_100), version.Next()));
            // A second row for the same silo is refused even with the current version.
            Assert.False(await silos[1].InsertRow(MembershipCluster.Entry(11_000 + Array.IndexOf(won, true)), after.Version.Next()));
            Assert.True(await silos[1].InsertRow(MembershipCluster.Entry(11_100), after.Version.Next()));
        }
        finally
        {
            foreach (RaftKvMembershipTable table in silos) await table.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_update_with_a_stale_row_etag_or_a_stale_table_version_is_refused()
    {
        await using RaftKvMembershipTable table = fixture.NewTable(fixture.NewClusterId());
        await table.InitializeMembershipTable(true);
        MembershipEntry entry = MembershipCluster.Entry(12_000);
        Assert.True(await table.InsertRow(entry, (await table.ReadAll()).Version.Next()));
        MembershipTableData read = await table.ReadRow(entry.SiloAddress);
        string etag = read.Members[0].Item2;

        entry.Status = SiloStatus.Active;
        Assert.True(await table.UpdateRow(entry, etag, read.Version.Next()));
        MembershipTableData current = await table.ReadRow(entry.SiloAddress);
        Assert.NotEqual(etag, current.Members[0].Item2);

        // The row's old etag, with the current table version: refused.
        entry.Status = SiloStatus.Dead;
        Assert.False(await table.UpdateRow(entry, etag, current.Version.Next()));
        // The row's current etag, with a stale table version: refused.
        Assert.False(await table.UpdateRow(entry, current.Members[0].Item2, read.Version.Next()));
        // A silo without a row: refused.
        Assert.False(await table.UpdateRow(MembershipCluster.Entry(12_001), current.Members[0].Item2, current.Version.Next()));

        MembershipTableData after = await table.ReadRow(entry.SiloAddress);
        Assert.Equal(SiloStatus.Active, after.Members[0].Item1.Status);
        Assert.Equal(current.Version, after.Version);
    }

    [Fact]
    public async Task IAmAlive_sets_only_the_IAmAlive_time_and_leaves_the_etags_and_the_version()
    {
        await using RaftKvMembershipTable table = fixture.NewTable(fixture.NewClusterId());
        await table.InitializeMembershipTable(true);
        MembershipEntry entry = MembershipCluster.Entry(13_000, iAmAlive: new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        Assert.True(await table.InsertRow(entry, (await table.ReadAll()).Version.Next()));
        MembershipTableData before = await table.ReadRow(entry.SiloAddress);

        DateTime alive = new(2026, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);
        MembershipEntry beat = MembershipCluster.Entry(13_000, status: SiloStatus.Dead, iAmAlive: alive); // only IAmAliveTime may be taken
        await table.UpdateIAmAlive(beat);

        MembershipTableData after = await table.ReadRow(entry.SiloAddress);
        Assert.Equal(alive, after.Members[0].Item1.IAmAliveTime);
        Assert.Equal(SiloStatus.Joining, after.Members[0].Item1.Status);
        Assert.Equal(before.Members[0].Item2, after.Members[0].Item2);
        Assert.Equal(before.Version, after.Version);

        // A heartbeat of a silo without a row creates nothing.
        await table.UpdateIAmAlive(MembershipCluster.Entry(13_001));
        Assert.Single((await table.ReadAll()).Members);
    }

    [Fact]
    public async Task Heartbeats_of_other_silos_never_make_a_valid_update_fail()
    {
        string clusterId = fixture.NewClusterId();
        await using RaftKvMembershipTable writer = fixture.NewTable(clusterId);
        RaftKvMembershipTable[] others = [.. Enumerable.Range(0, 3).Select(_ => fixture.NewTable(clusterId))];
        try
        {
            await writer.InitializeMembershipTable(true);
            for (int i = 0; i < others.Length; i++) Assert.True(await writer.InsertRow(MembershipCluster.Entry(14_001 + i), (await writer.ReadAll()).Version.Next()));
            MembershipEntry mine = MembershipCluster.Entry(14_000);
            Assert.True(await writer.InsertRow(mine, (await writer.ReadAll()).Version.Next()));

            using var stop = new CancellationTokenSource();
            Task[] heartbeats = [.. others.Select((table, i) => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested) await table.UpdateIAmAlive(MembershipCluster.Entry(14_001 + i, iAmAlive: DateTime.UtcNow));
            }))];
            for (int round = 0; round < 10; round++)
            {
                MembershipTableData read = await writer.ReadRow(mine.SiloAddress);
                mine.IAmAliveTime = DateTime.UtcNow;
                Assert.True(await writer.UpdateRow(mine, read.Members[0].Item2, read.Version.Next()), $"round {round}");
            }
            await stop.CancelAsync();
            await Task.WhenAll(heartbeats);
            Assert.Equal(others.Length + 1 + 10, (await writer.ReadAll()).Version.Version);
        }
        finally
        {
            foreach (RaftKvMembershipTable table in others) await table.DisposeAsync();
        }
    }

    [Fact]
    public async Task ReadAll_returns_every_row_and_the_table_version_read_atomically_with_them()
    {
        await using RaftKvMembershipTable table = fixture.NewTable(fixture.NewClusterId());
        MembershipTableData empty = await table.ReadAll();
        Assert.Empty(empty.Members);
        Assert.Equal(0, empty.Version.Version);

        await table.InitializeMembershipTable(true);
        await table.InitializeMembershipTable(true); // idempotent: a second silo initializing changes nothing
        TableVersion initial = (await table.ReadAll()).Version;
        Assert.Equal(0, initial.Version);

        var etags = new HashSet<string> { initial.VersionEtag };
        for (int i = 0; i < 3; i++)
        {
            TableVersion version = (await table.ReadAll()).Version;
            Assert.True(await table.InsertRow(MembershipCluster.Entry(15_000 + i), version.Next()));
            TableVersion next = (await table.ReadAll()).Version;
            Assert.Equal(version.Version + 1, next.Version);
            Assert.True(etags.Add(next.VersionEtag), "a version etag was reused");
        }
        MembershipTableData all = await table.ReadAll();
        Assert.Equal(3, all.Version.Version);
        Assert.Equal([15_000, 15_001, 15_002], all.Members.Select(m => m.Item1.SiloAddress.Endpoint.Port).Order());
        Assert.All(all.Members, m => Assert.Equal($"silo-{m.Item1.SiloAddress.Endpoint.Port}", m.Item1.SiloName));

        MembershipTableData missing = await table.ReadRow(MembershipCluster.Entry(15_999).SiloAddress);
        Assert.Empty(missing.Members);
        Assert.Equal(all.Version, missing.Version);
    }

    [Fact]
    public async Task Cleanup_removes_only_dead_rows_not_updated_since_the_date()
    {
        string clusterId = fixture.NewClusterId();
        await using RaftKvMembershipTable table = fixture.NewTable(clusterId);
        await table.InitializeMembershipTable(true);
        DateTime old = DateTime.UtcNow.AddHours(-2), recent = DateTime.UtcNow;
        MembershipEntry deadOld = Old(MembershipCluster.Entry(16_000, status: SiloStatus.Dead, iAmAlive: old));
        MembershipEntry deadRecent = Old(MembershipCluster.Entry(16_001, status: SiloStatus.Dead, iAmAlive: recent));
        MembershipEntry deadOldButVotedRecently = Old(MembershipCluster.Entry(16_002, status: SiloStatus.Dead, iAmAlive: old));
        deadOldButVotedRecently.AddSuspector(deadRecent.SiloAddress, recent);
        MembershipEntry activeOld = Old(MembershipCluster.Entry(16_003, status: SiloStatus.Active, iAmAlive: old));
        foreach (MembershipEntry entry in new[] { deadOld, deadRecent, deadOldButVotedRecently, activeOld })
        {
            Assert.True(await table.InsertRow(entry, (await table.ReadAll()).Version.Next()));
        }
        TableVersion version = (await table.ReadAll()).Version;

        await table.CleanupDefunctSiloEntries(DateTimeOffset.UtcNow.AddHours(-1));

        MembershipTableData after = await table.ReadAll();
        Assert.Equal([16_001, 16_002, 16_003], after.Members.Select(m => m.Item1.SiloAddress.Endpoint.Port).Order());
        Assert.Equal(version, after.Version);

        await table.DeleteMembershipTableEntries(clusterId);
        Assert.Empty((await table.ReadAll()).Members);

        static MembershipEntry Old(MembershipEntry entry)
        {
            entry.StartTime = DateTime.UtcNow.AddHours(-3);
            return entry;
        }
    }

    [Fact]
    public async Task Clients_find_the_proxies_of_the_active_silos()
    {
        string clusterId = fixture.NewClusterId();
        await using RaftKvMembershipTable table = fixture.NewTable(clusterId);
        await table.InitializeMembershipTable(true);
        foreach (MembershipEntry entry in new[]
                 {
                     MembershipCluster.Entry(17_000, status: SiloStatus.Active), MembershipCluster.Entry(17_001, status: SiloStatus.Dead),
                     MembershipCluster.Entry(17_002, status: SiloStatus.Joining), MembershipCluster.Entry(17_003, status: SiloStatus.Active),
                 })
        {
            Assert.True(await table.InsertRow(entry, (await table.ReadAll()).Version.Next()));
        }
        await using RaftKvMembershipTable clientTable = fixture.NewTable(clusterId);
        var gateways = new RaftKvGatewayListProvider(clientTable, Options.Create(new GatewayOptions()));
        await gateways.InitializeGatewayListProvider();

        IList<Uri> found = await gateways.GetGateways();

        Assert.Equal([18_000, 18_003], found.Select(uri => uri.Port).Order());
        Assert.All(found, uri => Assert.Equal("gwy.tcp", uri.Scheme));
    }
}
