using System.Text;
using RaftKv.Grains;
using RaftKv.TestingHost;

namespace RaftKv.Orleans.Tests;

[Collection("raftkv test clusters")]
public sealed class KvGrainTests(SharedClusterFixture fixture)
{
    private RaftKvTestCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task A_write_through_a_KV_grain_is_read_back_linearizably_through_every_silo()
    {
        IKvGrain grain = Cluster.Client.GetKvGrain("kv/every-silo");
        KvWriteResult put = await grain.PutAsync(Utf8("v1"));
        Assert.Equal(KvWriteStatus.Ok, put.Status);
        Assert.True(put.ModRevision > 0);
        Assert.Equal(put.ModRevision, put.CreateRevision);

        Assert.Equal(3, Cluster.Silos.Count);
        foreach (var silo in Cluster.Silos)
        {
            // The write was acknowledged before this read started, so a linearizable read on any node must see it.
            KvItem? item = await Cluster.RaftNodeOf(silo).ReadAsync(Utf8("kv/every-silo"), ReadConsistency.Linearizable);
            Assert.NotNull(item);
            Assert.Equal("v1", Encoding.UTF8.GetString(item.Value));
            Assert.Equal(put.ModRevision, item.ModRevision);
        }

        KvItem? viaGrain = await grain.GetAsync();
        Assert.Equal(put.ModRevision, viaGrain!.ModRevision);
    }

    [Fact]
    public async Task Compare_and_swap_on_value_and_on_revision_report_the_current_state_when_they_fail()
    {
        IKvGrain grain = Cluster.Client.GetKvGrain("kv/cas");
        KvWriteResult created = await grain.CompareRevisionAndSwapAsync(0, Utf8("a"));
        Assert.Equal(KvWriteStatus.Ok, created.Status);

        KvWriteResult notAbsent = await grain.CompareRevisionAndSwapAsync(0, Utf8("b"));
        Assert.Equal(KvWriteStatus.CompareFailed, notAbsent.Status);
        Assert.Equal(created.ModRevision, notAbsent.ModRevision);
        Assert.Equal("a", Encoding.UTF8.GetString(notAbsent.CurrentValue!));

        KvWriteResult byValue = await grain.CompareAndSwapAsync(Utf8("a"), Utf8("c"));
        Assert.Equal(KvWriteStatus.Ok, byValue.Status);
        Assert.Equal(created.CreateRevision, byValue.CreateRevision);
        Assert.True(byValue.ModRevision > created.ModRevision);

        KvWriteResult wrongValue = await grain.CompareAndSwapAsync(Utf8("a"), Utf8("d"));
        Assert.Equal(KvWriteStatus.CompareFailed, wrongValue.Status);
        Assert.Equal("c", Encoding.UTF8.GetString(wrongValue.CurrentValue!));

        KvWriteResult deleted = await grain.DeleteAsync();
        Assert.Equal(KvWriteStatus.Ok, deleted.Status);
        Assert.Null(await grain.GetAsync());
        Assert.Equal(KvWriteStatus.NotFound, (await grain.DeleteAsync()).Status);
    }

    [Fact]
    public async Task Errors_cross_grain_calls_as_typed_exceptions_with_clear_messages()
    {
        var tooLarge = new byte[2 * 1024 * 1024];
        var invalid = await Assert.ThrowsAsync<RaftKvInvalidArgumentException>(() => Cluster.Client.GetKvGrain("kv/too-large").PutAsync(tooLarge));
        Assert.Contains("limit", invalid.Message, StringComparison.Ordinal);
        Assert.False(invalid.IsRetryable);

        using RaftKvSession session = await Cluster.Client.OpenRaftKvSessionAsync();
        await session.WriteAsync(5, KvWrite.Put(Utf8("kv/stale"), Utf8("x")));
        var stale = await Assert.ThrowsAsync<RaftKvStaleSequenceException>(() => session.WriteAsync(3, KvWrite.Put(Utf8("kv/stale"), Utf8("y"))));
        Assert.Equal(session.SessionId, stale.SessionId);
        Assert.Equal(3UL, stale.Sequence);
        Assert.Contains("below the session's last applied sequence", stale.Message, StringComparison.Ordinal);

        // Log index 1 holds the first leader's own entry, never a RegisterSession: no session has id 1.
        var expired = await Assert.ThrowsAsync<RaftKvSessionExpiredException>(() =>
            Cluster.Client.GetGrain<IClientSessionGrain>(1).WriteAsync(1, KvWrite.Put(Utf8("kv/expired"), Utf8("x"))));
        Assert.Equal(1UL, expired.SessionId);
        Assert.Contains("register a new session", expired.Message, StringComparison.Ordinal);
        Assert.Null(await Cluster.Client.GetKvGrain("kv/expired").GetAsync());

        // The node runtime's own records (the members' address book) cannot be written by applications.
        byte[] book = (await Cluster.Client.GetKvGrain(RaftKv.Node.MemberAddressBook.Key).GetAsync())?.Value ?? [];
        var reserved = await Assert.ThrowsAsync<RaftKvInvalidArgumentException>(() => Cluster.Client.GetKvGrain(RaftKv.Node.MemberAddressBook.Key).PutAsync(Utf8("1 http://evil:1 http://evil:2")));
        Assert.Contains("reserved", reserved.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<RaftKvInvalidArgumentException>(() => Cluster.Client.GetKvGrain("__raftkv/anything").DeleteAsync());
        Assert.Equal(book, (await Cluster.Client.GetKvGrain(RaftKv.Node.MemberAddressBook.Key).GetAsync())?.Value ?? []);
    }

    internal static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
