using System.Text;
using RaftKv.Client;
using RaftKv.Gateway.Tests.Infrastructure;
using RaftKv.Raft;

namespace RaftKv.Gateway.Tests;

public sealed class GatewayRoundTripTests : SingleGatewayTest
{
    [Fact]
    public async Task Put_then_get_returns_the_value_and_log_index_revisions()
    {
        var put = await _client.PutAsync("a", "1");
        var item = await _client.GetAsync("a");

        Assert.NotNull(item);
        Assert.Equal("1", Encoding.UTF8.GetString(item.Value));
        Assert.Equal(put.ModRevision, item.ModRevision);
        Assert.Equal(put.CreateRevision, item.CreateRevision);
        Assert.Equal(_node.LastIndex, put.ModRevision);
        Assert.NotEqual(0UL, _client.SessionId);

        var second = await _client.PutAsync("a", "2");
        Assert.Equal(put.CreateRevision, second.CreateRevision);
        Assert.True(second.ModRevision > put.ModRevision);
    }

    [Fact]
    public async Task Stale_get_reads_the_local_state()
    {
        await _client.PutAsync("stale", "x");
        var item = await _client.GetAsync("stale", ReadConsistency.Stale);
        Assert.Equal("x", Encoding.UTF8.GetString(item!.Value));
    }

    [Fact]
    public async Task Get_of_a_missing_key_is_null()
    {
        Assert.Null(await _client.GetAsync("missing"));
    }

    [Fact]
    public async Task Delete_removes_the_key_and_reports_absent_keys()
    {
        var put = await _client.PutAsync("d", "v");
        var deleted = await _client.DeleteAsync("d");
        Assert.True(deleted.Deleted);
        Assert.Equal(put.ModRevision, deleted.ModRevision);
        Assert.Null(await _client.GetAsync("d"));

        var again = await _client.DeleteAsync("d");
        Assert.False(again.Deleted);
    }

    [Fact]
    public async Task Compare_and_swap_on_value_absence_and_revision()
    {
        var created = await _client.CompareAndSwapAsync("c", CasExpectation.Absent, "1");
        Assert.True(created.Succeeded);

        var notAbsent = await _client.CompareAndSwapAsync("c", CasExpectation.Absent, "x");
        Assert.False(notAbsent.Succeeded);
        Assert.Equal("1", Encoding.UTF8.GetString(notAbsent.CurrentValue!));
        Assert.Equal(created.ModRevision, notAbsent.ModRevision);

        var byValue = await _client.CompareAndSwapAsync("c", CasExpectation.Value("1"u8.ToArray()), "2");
        Assert.True(byValue.Succeeded);

        var wrongValue = await _client.CompareAndSwapAsync("c", CasExpectation.Value("1"u8.ToArray()), "3");
        Assert.False(wrongValue.Succeeded);
        Assert.Equal("2", Encoding.UTF8.GetString(wrongValue.CurrentValue!));

        var byRevision = await _client.CompareAndSwapAsync("c", CasExpectation.ModRevision(byValue.ModRevision), "3");
        Assert.True(byRevision.Succeeded);
        var staleRevision = await _client.CompareAndSwapAsync("c", CasExpectation.ModRevision(byValue.ModRevision), "4");
        Assert.False(staleRevision.Succeeded);

        Assert.Equal("3", Encoding.UTF8.GetString((await _client.GetAsync("c"))!.Value));
        var absentKey = await _client.CompareAndSwapAsync("nope", CasExpectation.Value("x"u8.ToArray()), "y");
        Assert.False(absentKey.Succeeded);
        Assert.Null(absentKey.CurrentValue);
    }

    [Fact]
    public async Task Scan_returns_prefix_matches_in_order_up_to_the_limit()
    {
        await _client.PutAsync("scan/b", "2");
        await _client.PutAsync("scan/a", "1");
        await _client.PutAsync("scan/c", "3");
        await _client.PutAsync("other", "x");

        var all = await _client.ScanAsync("scan/");
        Assert.Equal(["scan/a", "scan/b", "scan/c"], all.Select(i => Encoding.UTF8.GetString(i.Key)));

        var two = await _client.ScanAsync("scan/", limit: 2);
        Assert.Equal(2, two.Count);
    }

    [Fact]
    public async Task Status_reports_the_node()
    {
        await _client.PutAsync("s", "1");
        var status = await _client.StatusAsync();
        Assert.Equal(1UL, status.NodeId);
        Assert.Equal(RaftKv.Client.Protos.Role.Leader, status.Role);
        Assert.Equal(1UL, status.LeaderId);
        Assert.Equal(_server.Address, status.LeaderAddress);
        Assert.Equal(_node.LastIndex, status.AppliedIndex);
        Assert.Equal(_server.Address, Assert.Single(status.Members).Address);
        Assert.Equal(RaftRole.Leader, _node.Status.Role);
    }
}
