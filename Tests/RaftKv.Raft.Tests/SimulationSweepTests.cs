using RaftKv.Simulation;
using Xunit.Abstractions;

namespace RaftKv.Raft.Tests;

/// <summary>The deterministic simulator as a test: many seeds of swarm-randomised faults, zero violations.</summary>
public sealed class SimulationSweepTests(ITestOutputHelper output)
{
    // 500 seeds with membership churn, reads and spare nodes cost about what 600 seeds without them did.
    private const int SweepSeeds = 500;

    [Fact]
    public void Many_seeds_under_faults_have_no_safety_or_liveness_violations()
    {
        var failures = new System.Collections.Concurrent.ConcurrentBag<SimulationResult>();
        long commits = 0, membershipChanges = 0, transfers = 0, reads = 0;
        Parallel.For(1, SweepSeeds + 1, seed =>
        {
            SimulationResult result = new ClusterSimulation(SimulationOptions.Swarm((ulong)seed)).Run();
            Interlocked.Add(ref commits, (long)result.Commits);
            Interlocked.Add(ref membershipChanges, result.MembershipChanges);
            Interlocked.Add(ref transfers, result.LeadershipTransfers);
            Interlocked.Add(ref reads, result.ReadsServed);
            if (!result.Passed) failures.Add(result);
        });
        foreach (SimulationResult failure in failures.OrderBy(f => f.Seed).Take(5))
        {
            output.WriteLine($"seed {failure.Seed}: {string.Join(" | ", failure.Violations)}\n  {failure.ReplayCommand}");
        }
        Assert.Empty(failures);
        Assert.True(commits > SweepSeeds * 20, $"the sweep committed only {commits} entries: it is not exercising replication");
        output.WriteLine($"commits={commits} membershipChanges={membershipChanges} transfers={transfers} reads={reads}");
        Assert.True(membershipChanges > SweepSeeds / 2, $"only {membershipChanges} membership changes: the churn is not exercised");
        Assert.True(transfers > SweepSeeds / 4, $"only {transfers} leadership transfers");
        Assert.True(reads > SweepSeeds * 5, $"only {reads} reads served");
    }

    [Fact]
    public void The_same_seed_replays_the_same_run()
    {
        SimulationResult first = new ClusterSimulation(SimulationOptions.Swarm(77)).Run();
        SimulationResult second = new ClusterSimulation(SimulationOptions.Swarm(77)).Run();
        Assert.Equal((first.Events, first.Commits, first.Elections, first.SimulatedMs), (second.Events, second.Commits, second.Elections, second.SimulatedMs));
    }

    [Fact]
    public void The_checkers_catch_a_core_that_grants_votes_without_the_up_to_date_check()
    {
        SimulationResult? caught = null;
        for (ulong seed = 1; seed <= 3000 && caught is null; seed++)
        {
            SimulationResult result = new ClusterSimulation(SimulationOptions.Swarm(seed, SimulatedBug.VoteWithoutUpToDateCheck)).Run();
            if (!result.Passed) caught = result;
        }
        Assert.NotNull(caught);
        output.WriteLine($"caught at seed {caught.Seed}: {caught.Violations[0]}\n  {caught.ReplayCommand}");
        Assert.Contains(caught.Violations, v => v.Contains("leader completeness") || v.Contains("mismatch") || v.Contains("safety"));
    }

    [Fact]
    public void The_checkers_catch_a_core_that_lets_two_voter_changes_overlap()
    {
        SimulationResult? caught = null;
        for (ulong seed = 1; seed <= 3000 && caught is null; seed++)
        {
            SimulationResult result = new ClusterSimulation(SimulationOptions.Swarm(seed, SimulatedBug.OverlappingVoterChanges)).Run();
            if (!result.Passed) caught = result;
        }
        Assert.NotNull(caught);
        output.WriteLine($"caught at seed {caught.Seed}: {caught.Violations[0]}\n  {caught.ReplayCommand}");
        Assert.Contains(caught.Violations, v => v.Contains("uncommitted configuration changes"));
    }

    [Fact]
    public void Elections_converge_quickly_on_a_healthy_network()
    {
        ElectionStatistics stats = ElectionStatistics.Measure(trials: 100, nodeCount: 5);
        output.WriteLine(stats.Summary());
        Assert.Equal(100, stats.FailoverTrials);
        Assert.True(stats.ColdStartWithin2TShare >= 0.95, stats.Summary());
    }
}
