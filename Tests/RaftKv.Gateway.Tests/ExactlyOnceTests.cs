using System.Globalization;
using System.Text;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

public sealed class ExactlyOnceTests : SingleGatewayTest
{
    [Fact]
    public async Task A_put_whose_reply_was_lost_is_retried_with_the_same_sequence_and_applied_once()
    {
        await _client.PutAsync("warm-up", "x");
        ulong before = _node.LastIndex;
        _node.DropNextReplies(1);

        var put = await _client.PutAsync("k", "v");

        // Two proposals reached the log (the original and the retry), but the reply is the original's: the retry was
        // answered from the session table, not applied again (which would have moved the key's revision).
        Assert.Equal(before + 2, _node.LastIndex);
        Assert.Equal(before + 1, put.ModRevision);
        Assert.Equal(before + 1, (await _client.GetAsync("k"))!.ModRevision);
    }

    [Fact]
    public async Task A_cas_counter_increments_exactly_once_per_logical_increment_despite_lost_replies()
    {
        const int increments = 10;
        var created = await _client.CompareAndSwapAsync("counter", CasExpectation.Absent, "0");
        Assert.True(created.Succeeded);
        for (int i = 0; i < increments; i++)
        {
            var current = await _client.GetAsync("counter");
            int value = int.Parse(Encoding.UTF8.GetString(current!.Value), CultureInfo.InvariantCulture);
            // Every other increment loses its reply after being applied. A retry re-applied as a new command would
            // fail its CAS (the value already moved); the session table answers it with the original success.
            if (i % 2 == 0) _node.DropNextReplies(1);
            var result = await _client.CompareAndSwapAsync("counter", CasExpectation.ModRevision(current.ModRevision),
                (value + 1).ToString(CultureInfo.InvariantCulture));
            Assert.True(result.Succeeded, $"increment {i} reported failure");
        }

        var final = await _client.GetAsync("counter");
        Assert.Equal(increments.ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetString(final!.Value));
    }

    [Fact]
    public async Task A_write_whose_replies_are_all_lost_surfaces_unavailable_and_the_next_write_still_succeeds()
    {
        using var client = _server.CreateClient(maxAttempts: 2);
        await client.PutAsync("warm-up", "x");
        _node.DropNextReplies(2);
        var failure = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("doubt", "1"));
        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);

        var next = await client.PutAsync("after", "2");
        Assert.Equal(_node.LastIndex, next.ModRevision);
        Assert.Equal("1", Encoding.UTF8.GetString((await client.GetAsync("doubt"))!.Value));
    }

    [Fact]
    public async Task A_write_in_doubt_is_not_reported_as_unapplied_when_a_later_attempt_is_refused_before_proposing()
    {
        // Attempt 1 reaches the leader and is applied, but its reply is lost (may have applied); the client moves on to
        // the next gateway, which knows no leader and refuses before proposing (certainly not applied, for that attempt).
        using var leaderNode = new FakeRaftKvNode(1, [1, 2]);
        using var lostNode = new FakeRaftKvNode(2, [1, 2]) { LeaderId = 0 };
        await using var leader = await GatewayTestServer.StartAsync(leaderNode);
        await using var lost = await GatewayTestServer.StartAsync(lostNode);
        await using var client = new RaftKvClient(new RaftKvClientOptions { Endpoints = [leader.Address, lost.Address], MaxAttempts = 2, InitialBackoffMs = 10 });
        await client.PutAsync("warm-up", "x");
        leaderNode.DropNextReplies(1);

        var failure = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("doubt", "1"));

        Assert.Equal("1", Encoding.UTF8.GetString(leaderNode.StateMachine.Get("doubt"u8.ToArray())!.Value.Span));
        // The write as a whole is in doubt: the last attempt's "false" must not reach the caller as the answer.
        Assert.True(KvMetadata.MayHaveApplied(failure), $"reported {failure.Trailers.GetValue(KvMetadata.MayHaveAppliedTrailer)} for a write that was applied");
    }
}
