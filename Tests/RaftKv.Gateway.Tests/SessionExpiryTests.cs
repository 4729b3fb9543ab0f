using RaftKv.Client;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

public sealed class SessionExpiryTests
{
    [Fact]
    public async Task An_expired_session_surfaces_an_error_and_the_next_write_registers_a_new_session()
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node, clock);
        await using var client = server.CreateClient();
        await using var other = server.CreateClient();

        await client.PutAsync("a", "1");
        ulong firstSession = client.SessionId;
        // Log time passes the session timeout; another session's command carries that time into the log.
        clock.Advance(TimeSpan.FromMilliseconds(FakeRaftKvNode.SmallOptions.SessionTimeoutMs * 2));
        await other.PutAsync("b", "1");

        var expired = await Assert.ThrowsAsync<RaftKvSessionExpiredException>(() => client.PutAsync("a", "2"));
        Assert.False(expired.InDoubt);
        Assert.Equal(0UL, client.SessionId);

        await client.PutAsync("a", "3");
        Assert.NotEqual(firstSession, client.SessionId);
        Assert.Equal("3"u8.ToArray(), (await client.GetAsync("a"))!.Value);
    }
}
