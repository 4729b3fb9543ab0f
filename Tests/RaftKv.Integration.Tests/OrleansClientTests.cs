using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RaftKv.Client;
using RaftKv.Grains;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>An Orleans client against real silo processes: KV grains and sessions reach the same replicated store as gRPC.</summary>
[Collection("silo processes")]
public sealed class OrleansClientTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task An_Orleans_client_writes_through_KV_grains_and_a_gRPC_client_reads_the_same_revision()
    {
        await using var cluster = new SiloProcessCluster();
        await cluster.WaitForLeaderAsync(Deadline);
        using IHost orleans = await cluster.StartOrleansClientAsync(Deadline);
        IClusterClient client = orleans.Services.GetRequiredService<IClusterClient>();

        IKvGrain grain = client.GetKvGrain("orleans/greeting");
        KvWriteResult put = await grain.PutAsync(Encoding.UTF8.GetBytes("hello over Orleans"));
        Assert.Equal(KvWriteStatus.Ok, put.Status);
        var viaGrain = await grain.GetAsync();
        Assert.Equal(put.ModRevision, viaGrain!.ModRevision);

        await using RaftKvClient grpc = cluster.NewClient();
        var viaGrpc = await grpc.GetAsync("orleans/greeting");
        Assert.Equal("hello over Orleans", Encoding.UTF8.GetString(viaGrpc!.Value));
        Assert.Equal(put.ModRevision, viaGrpc.ModRevision);

        using RaftKvSession session = await client.OpenRaftKvSessionAsync();
        ulong sequence = session.NextSequence();
        KvWrite write = KvWrite.Put(Encoding.UTF8.GetBytes("orleans/once"), Encoding.UTF8.GetBytes("1"));
        KvWriteResult first = await session.WriteAsync(sequence, write);
        KvWriteResult retried = await session.WriteAsync(sequence, write);
        Assert.Equal(first.ModRevision, retried.ModRevision);
        Assert.Equal(first.ModRevision, (await grpc.GetAsync("orleans/once"))!.ModRevision);
        await orleans.StopAsync();
    }
}
