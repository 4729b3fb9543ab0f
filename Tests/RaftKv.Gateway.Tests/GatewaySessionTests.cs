using Microsoft.Extensions.DependencyInjection;
using RaftKv.ClientGateway;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

public sealed class GatewaySessionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-1)] // NTP steps the wall clock back an hour: idleness is measured on the monotonic clock all the same
    public async Task Idle_gateway_sessions_are_evicted_and_active_ones_kept(int wallClockStepHours)
    {
        var clock = new ManualTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var options = new KvGatewayOptions { SessionIdleEvictionMs = 1_000 };
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node, clock, options);
        var gateway = server.Services.GetRequiredService<KvGatewayService>();
        await using var idle = server.CreateClient();
        await using var active = server.CreateClient();

        await idle.PutAsync("a", "1");
        await active.PutAsync("b", "1");
        Assert.Equal(2, gateway.GatewaySessionCount);

        clock.StepWallClock(TimeSpan.FromHours(wallClockStepHours));
        clock.Advance(TimeSpan.FromMilliseconds(options.SessionIdleEvictionMs + 1));
        await active.PutAsync("b", "2");

        // The sweep ran on the active client's request, before its gate was taken: the idle gate is gone, the
        // active session's gate was re-created for its request. The replicated session itself is unaffected.
        Assert.Equal(1, gateway.GatewaySessionCount);
        await idle.PutAsync("a", "2");
        Assert.Equal("2"u8.ToArray(), (await idle.GetAsync("a"))!.Value);
    }
}
