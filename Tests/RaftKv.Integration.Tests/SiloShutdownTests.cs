using System.Diagnostics;
using RaftKv.Client;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>
/// A stopping silo must exit even when part of its stop hangs (the default suite once saw a SIGTERMed silo still
/// alive 20 s later on a loaded CI machine): the shutdown watchdog ends it after RaftKv:ShutdownTimeoutMs plus a
/// margin, with exit code 3, and nothing it acknowledged is lost.
/// </summary>
[Collection("silo processes")]
public sealed class SiloShutdownTests
{
    [Fact]
    public async Task A_silo_whose_stop_hangs_is_ended_by_the_watchdog_and_loses_nothing()
    {
        await using var cluster = new SiloProcessCluster(extraArguments: ["--RaftKv:ShutdownTimeoutMs=1000"]);
        ulong leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
        await using RaftKvClient client = cluster.NewClient();
        await client.PutAsync("before-stop", "kept");

        // Stop a silo that is fully up: one asked to stop while Orleans is still joining stops through another path.
        await cluster.WaitForSiloStartedAsync(leader, TimeSpan.FromSeconds(60));
        await cluster.HangOnStopAsync(leader);
        var stopping = Stopwatch.StartNew();
        using Process process = cluster.Terminate(leader)!;
        try
        {
            // Watchdog deadline: 1 s graceful budget + 5 s margin. 40 s leaves room for a loaded machine and still
            // fails if nothing ends the hung stop.
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(40));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        Assert.True(process.ExitCode == 3, $"exit code {process.ExitCode}; the silo's log ends:\n{Tail(cluster.Log(leader))}");
        Assert.True(stopping.Elapsed >= TimeSpan.FromSeconds(5), $"the watchdog fired early, after {stopping.Elapsed}");
        Assert.Contains("graceful stop did not finish", cluster.Log(leader), StringComparison.Ordinal);

        cluster.Start(leader);
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
        KvItem? kept = await client.GetAsync("before-stop");
        Assert.NotNull(kept);
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(kept.Value));
    }

    [Fact]
    public async Task A_silo_asked_to_stop_while_starting_exits_cleanly()
    {
        await using var cluster = new SiloProcessCluster();
        // The Raft node serves before Orleans has joined its cluster; stop the silo in between.
        await cluster.WaitUntilAsync(() => Task.FromResult(cluster.Log(1).Contains("serving: clients at", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), "node 1 serving");
        bool startedBeforeStop = cluster.Log(1).Contains("silo started", StringComparison.Ordinal);
        using Process process = cluster.Terminate(1)!;
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(40));
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode} (fully started before the stop: {startedBeforeStop}); the silo's log ends:\n{Tail(cluster.Log(1))}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // its stop hangs: the handler's deadline ends it, with the same exit code
    public async Task A_silo_that_Orleans_declares_dead_stops_gracefully_for_a_restart_and_the_others_keep_serving(bool stopHangs)
    {
        // The survivors log Orleans' eviction (Information) so the test knows when the frozen silo has been declared dead.
        await using var cluster = new SiloProcessCluster(extraArguments:
            ["--RaftKv:SnapshotThresholdBytes=1048576", "--Logging:LogLevel:Orleans.Runtime.MembershipService.MembershipTableManager=Information"]);
        foreach (ulong id in new ulong[] { 1, 2, 3 }) await cluster.WaitForSiloStartedAsync(id, TimeSpan.FromSeconds(90));
        await using RaftKvClient client = cluster.NewClient(1, 3);
        await client.PutAsync("before", "kept");

        // Freeze node 2 (node 1's silo keeps the development clustering's membership table) until the others evict it.
        const ulong victim = 2;
        if (stopHangs) await cluster.HangOnStopAsync(victim);
        Process process = cluster.ProcessOf(victim)!; // the cluster owns (and disposes) it
        cluster.Signal(victim, "STOP");
        try
        {
            await cluster.WaitUntilAsync(() => Task.FromResult(cluster.Log(1).Contains("Evicting '", StringComparison.Ordinal)
                || cluster.Log(3).Contains("Evicting '", StringComparison.Ordinal)), TimeSpan.FromSeconds(60), "the others declare node 2 dead");
        }
        finally
        {
            cluster.Signal(victim, "CONT");
        }

        // Thawed, it learns it is dead: Orleans' handler would FailFast (SIGABRT, 134); the silo's stops it gracefully.
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        string log = cluster.Log(victim);
        Assert.True(process.ExitCode == 75, $"exit code {process.ExitCode}; the silo's log ends:\n{Tail(log)}");
        Assert.Contains("Orleans gave up on this silo", log, StringComparison.Ordinal);
        if (stopHangs)
        {
            Assert.Contains("exiting now with code 75", log, StringComparison.Ordinal);
        }
        else
        {
            // The node runtime's own orderly stop (WAL closed), unless Orleans' stop of a dead silo hung and the
            // handler's deadline (RaftKv:ShutdownTimeoutMs + 1 s) ended the process, with the same exit code.
            Assert.True(log.Contains("node 2 stopped in", StringComparison.Ordinal) || log.Contains("exiting now with code 75", StringComparison.Ordinal), Tail(log));
        }

        // The other two kept a Raft majority; restarted, node 2 rejoins Orleans as a new generation and catches up.
        await client.PutAsync("after", "written");
        cluster.Start(victim);
        await cluster.WaitForSiloStartedAsync(victim, TimeSpan.FromSeconds(90));
        await using RaftKvClient throughVictim = cluster.NewClient(victim);
        KvItem? after = await throughVictim.GetAsync("after");
        Assert.NotNull(after);
        Assert.Equal("written", System.Text.Encoding.UTF8.GetString(after.Value));
    }

    private static string Tail(string log) => string.Join('\n', log.Split('\n').TakeLast(60));
}
