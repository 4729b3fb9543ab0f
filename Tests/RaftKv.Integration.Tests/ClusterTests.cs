using System.Text;
using RaftKv.Client;
using RaftKv.Client.Protos;
using Grpc.Core;
using Grpc.Net.Client;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>End-to-end behaviour of real silo processes on loopback.</summary>
[Collection("silo processes")] // one cluster at a time: the machine has two cores
public sealed class ClusterTests
{
    private static readonly TimeSpan ElectionDeadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Writes_on_one_node_are_read_back_linearizably_through_every_node()
    {
        await using var cluster = new SiloProcessCluster();
        await cluster.WaitForLeaderAsync(ElectionDeadline);
        await using RaftKvClient writer = cluster.NewClient();
        await writer.PutAsync("greeting", "hello");

        foreach (ulong id in cluster.Members.Select(m => m.Id))
        {
            await using RaftKvClient reader = cluster.NewClient(id);
            KvItem? item = await reader.GetAsync("greeting");
            Assert.Equal("hello", Encoding.UTF8.GetString(item!.Value));
        }
    }

    [Fact]
    public async Task Killing_the_leader_elects_a_new_one_loses_no_acknowledged_write_and_the_old_leader_catches_up()
    {
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        await using RaftKvClient client = cluster.NewClient();
        for (int i = 0; i < 50; i++) await client.PutAsync($"k{i}", $"v{i}");

        cluster.Kill(leader);
        ulong next = await cluster.WaitForLeaderAsync(ElectionDeadline, not: leader);
        Assert.NotEqual(leader, next);
        for (int i = 0; i < 50; i++) Assert.Equal($"v{i}", Encoding.UTF8.GetString((await client.GetAsync($"k{i}"))!.Value));
        for (int i = 50; i < 60; i++) await client.PutAsync($"k{i}", $"v{i}");

        cluster.Start(leader);
        StatusResponse leaderStatus = (await cluster.TryStatusAsync(next))!;
        await cluster.WaitUntilAsync(async () => (await cluster.TryStatusAsync(leader))?.AppliedIndex >= leaderStatus.CommitIndex,
            ElectionDeadline, "the old leader catching up");
        await using RaftKvClient local = cluster.NewClient(leader);
        KvItem? item = await local.GetAsync("k59", ReadConsistency.Stale);
        Assert.Equal("v59", Encoding.UTF8.GetString(item!.Value));
    }

    [Fact]
    public async Task A_cluster_restarted_from_its_data_directories_recovers_the_same_state()
    {
        await using var cluster = new SiloProcessCluster();
        await cluster.WaitForLeaderAsync(ElectionDeadline);
        await using (RaftKvClient client = cluster.NewClient())
        {
            for (int i = 0; i < 100; i++) await client.PutAsync($"r{i}", $"value-{i}");
            await client.DeleteAsync("r7");
        }
        foreach (ulong id in cluster.Members.Select(m => m.Id)) cluster.Kill(id);
        foreach (ulong id in cluster.Members.Select(m => m.Id)) cluster.Start(id);
        await cluster.WaitForLeaderAsync(ElectionDeadline);

        await using RaftKvClient after = cluster.NewClient();
        for (int i = 0; i < 100; i++)
        {
            KvItem? item = await after.GetAsync($"r{i}");
            if (i == 7) Assert.Null(item);
            else Assert.Equal($"value-{i}", Encoding.UTF8.GetString(item!.Value));
        }
    }

    [Fact]
    public async Task A_retried_write_gets_its_original_reply_and_applies_once()
    {
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        using var channel = GrpcChannel.ForAddress(cluster.ClientAddress(leader));
        var kv = new KV.KVClient(channel);
        var session = await kv.RegisterSessionAsync(new RegisterSessionRequest());

        // A counter incremented by compare-and-swap; every request is sent twice with the same sequence number, as a
        // client does when the first reply is lost. A second application would fail the CAS or double the count.
        ulong sequence = 0;
        var put = new PutRequest { SessionId = session.SessionId, Sequence = ++sequence, Key = Bytes("counter"), Value = Bytes("0") };
        await kv.PutAsync(put);
        for (int i = 0; i < 20; i++)
        {
            var cas = new CompareAndSwapRequest
            {
                SessionId = session.SessionId, Sequence = ++sequence, Key = Bytes("counter"),
                ExpectedValue = Bytes(i.ToString()), NewValue = Bytes((i + 1).ToString()),
            };
            CompareAndSwapResponse first = await kv.CompareAndSwapAsync(cas);
            CompareAndSwapResponse retry = await kv.CompareAndSwapAsync(cas);
            Assert.True(first.Succeeded);
            Assert.Equal(first, retry);
        }
        GetResponse counter = await kv.GetAsync(new GetRequest { Key = Bytes("counter") });
        Assert.Equal("20", counter.Kv.Value.ToStringUtf8());
    }

    [Fact]
    public async Task Concurrent_counter_increments_through_a_leader_crash_are_applied_exactly_once()
    {
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        await using (RaftKvClient setup = cluster.NewClient()) await setup.PutAsync("count", "0");

        int acknowledged = 0;
        async Task IncrementLoop(int increments)
        {
            await using RaftKvClient client = cluster.NewClient();
            for (int done = 0; done < increments;)
            {
                KvItem current = (await client.GetAsync("count"))!;
                int value = int.Parse(Encoding.UTF8.GetString(current.Value));
                CasResult result = await client.CompareAndSwapAsync("count", CasExpectation.ModRevision(current.ModRevision), (value + 1).ToString());
                if (result.Succeeded)
                {
                    done++;
                    Interlocked.Increment(ref acknowledged);
                }
            }
        }
        Task workers = Task.WhenAll(IncrementLoop(25), IncrementLoop(25));
        await cluster.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref acknowledged) >= 10), ElectionDeadline, "ten increments");
        cluster.Kill(leader);
        await workers;

        await using RaftKvClient reader = cluster.NewClient();
        Assert.Equal("50", Encoding.UTF8.GetString((await reader.GetAsync("count"))!.Value));
    }

    [Fact]
    public async Task An_isolated_old_leader_refuses_linearizable_reads_instead_of_serving_stale_data()
    {
        await using var cluster = new SiloProcessCluster();
        ulong oldLeader = await cluster.WaitForLeaderAsync(ElectionDeadline);
        await using (RaftKvClient client = cluster.NewClient()) await client.PutAsync("x", "old");

        await cluster.IsolateAsync(oldLeader, true);
        ulong[] others = [.. cluster.Members.Select(m => m.Id).Where(id => id != oldLeader)];
        await using (RaftKvClient majority = cluster.NewClient(others))
        {
            await cluster.WaitUntilAsync(async () =>
            {
                try
                {
                    await majority.PutAsync("x", "new");
                    return true;
                }
                catch (RpcException)
                {
                    return false;
                }
            }, ElectionDeadline, "a write through the new majority");
        }

        using var channel = GrpcChannel.ForAddress(cluster.ClientAddress(oldLeader));

        var kv = new KV.KVClient(channel);
        var read = new GetRequest { Key = Bytes("x") };
        RpcException refused = await Assert.ThrowsAsync<RpcException>(() =>
            kv.GetAsync(read, deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync);
        Assert.Contains(refused.StatusCode, new[] { StatusCode.Unavailable, StatusCode.DeadlineExceeded });

        // A stale read, asked for by name, is the only way to see the old value there.
        GetResponse stale = await kv.GetAsync(new GetRequest { Key = Bytes("x"), Consistency = Consistency.Stale });
        Assert.Equal("old", stale.Kv.Value.ToStringUtf8());

        await cluster.IsolateAsync(oldLeader, false);
        await cluster.WaitUntilAsync(async () =>
        {
            try
            {
                GetResponse healed = await kv.GetAsync(read, deadline: DateTime.UtcNow.AddSeconds(2)).ResponseAsync;
                return healed.Kv.Value.ToStringUtf8() == "new";
            }
            catch (RpcException)
            {
                return false;
            }
        }, ElectionDeadline, "the healed node serving the new value");
    }

    private static Google.Protobuf.ByteString Bytes(string text) => Google.Protobuf.ByteString.CopyFromUtf8(text);
}

[CollectionDefinition("silo processes", DisableParallelization = true)]
public sealed class SiloProcessCollection;
