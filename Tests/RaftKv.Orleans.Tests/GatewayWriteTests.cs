using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using KvMetadata = RaftKv.Client.KvMetadata;
using RaftKv.Client.Protos;
using RaftKv.Grains;
using RaftKv.Node;
using RaftKv.TestingHost;
using static RaftKv.Orleans.Tests.KvGrainTests;

namespace RaftKv.Orleans.Tests;

/// <summary>The silo's gRPC gateway writes through the session grains: gRPC and Orleans clients share one exactly-once path.</summary>
[Collection("raftkv test clusters")]
public sealed class GatewayWriteTests(SharedClusterFixture fixture)
{
    private RaftKvTestCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task A_gRPC_write_on_a_follower_goes_through_the_session_grain_and_its_sequence_is_answered_once_for_both_paths()
    {
        SiloHandle leader = await Cluster.WaitForLeaderAsync(Deadlines.Election);
        SiloHandle follower = Cluster.Silos.First(s => s.SiloAddress != leader.SiloAddress);
        string address = Cluster.ServicesOf(follower).GetRequiredService<IRaftKvNode>().ClientAddressOf(Cluster.NodeIdOf(follower))!;
        using GrpcChannel channel = GrpcChannel.ForAddress(address);
        var kv = new KV.KVClient(channel);
        // Refuse gateway forwarding: only the session grain (which follows the leader itself) can make these succeed
        // on a follower; the node-local path would answer UNAVAILABLE with a leader hint.
        var noForward = new Metadata { { KvMetadata.NoForwardHeader, "1" } };
        var deadline = DateTime.UtcNow.AddSeconds(30);

        ulong session = (await kv.RegisterSessionAsync(new RegisterSessionRequest(), noForward, deadline)).SessionId;
        Assert.NotEqual(0UL, session);
        await kv.KeepAliveAsync(new KeepAliveRequest { SessionId = session }, noForward, deadline);
        byte[] key = Utf8("gateway/through-grain");
        PutResponse put = await kv.PutAsync(new PutRequest
        {
            SessionId = session,
            Sequence = 1,
            Key = ByteString.CopyFrom(key),
            Value = ByteString.CopyFromUtf8("v1"),
        }, noForward, deadline);
        Assert.True(put.ModRevision > 0);

        // The same (session, sequence) through the Orleans session grain is answered from the session table, not
        // applied again: same revisions.
        KvWriteResult again = await Cluster.Client.GetGrain<IClientSessionGrain>((long)session).WriteAsync(1, KvWrite.Put(key, Utf8("v2")));
        Assert.Equal((KvWriteStatus.Ok, put.CreateRevision, put.ModRevision), (again.Status, again.CreateRevision, again.ModRevision));
        KvItem item = (await Cluster.Client.GetKvGrain("gateway/through-grain").GetAsync())!;
        Assert.Equal("v1", System.Text.Encoding.UTF8.GetString(item.Value));
        Assert.Equal(put.ModRevision, item.ModRevision);

        // A compare-and-swap that fails reports the current state; a stale sequence is refused, not applied.
        CompareAndSwapResponse cas = await kv.CompareAndSwapAsync(new CompareAndSwapRequest
        {
            SessionId = session,
            Sequence = 2,
            Key = ByteString.CopyFrom(key),
            ExpectedModRevision = put.ModRevision + 1_000_000,
            NewValue = ByteString.CopyFromUtf8("never"),
        }, noForward, deadline);
        Assert.False(cas.Succeeded);
        Assert.True(cas.CurrentExists);
        Assert.Equal("v1", cas.CurrentValue.ToStringUtf8());
        var stale = await Assert.ThrowsAsync<RpcException>(async () => await kv.DeleteAsync(
            new DeleteRequest { SessionId = session, Sequence = 1, Key = ByteString.CopyFrom(key) }, noForward, deadline));
        Assert.Equal(StatusCode.FailedPrecondition, stale.StatusCode);
        Assert.Equal("false", stale.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer));

        // Reads stay on the local node.
        GetResponse get = await kv.GetAsync(new GetRequest { Key = ByteString.CopyFrom(key) }, deadline: deadline);
        Assert.True(get.Found);
        Assert.Equal(put.ModRevision, get.Kv.ModRevision);
    }
}
