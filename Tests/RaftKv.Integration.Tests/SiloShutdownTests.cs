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
        Assert.True(process.ExitCode == 3, $"exit code {process.ExitCode}; log:\n{cluster.Log(leader)}");
        Assert.True(stopping.Elapsed >= TimeSpan.FromSeconds(5), $"the watchdog fired early, after {stopping.Elapsed}");
        Assert.Contains("graceful stop did not finish", cluster.Log(leader), StringComparison.Ordinal);

        cluster.Start(leader);
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
        KvItem? kept = await client.GetAsync("before-stop");
        Assert.NotNull(kept);
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(kept.Value));
    }
}
