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
        long commits = 0, membershipChanges = 0, transfers = 0, reads = 0, writes = 0, linearizableReads = 0, staleReads = 0, retries = 0;
        Parallel.For(1, SweepSeeds + 1, seed =>
        {
            SimulationResult result = new ClusterSimulation(SimulationOptions.Swarm((ulong)seed)).Run();
            Interlocked.Add(ref commits, (long)result.Commits);
            Interlocked.Add(ref membershipChanges, result.MembershipChanges);
            Interlocked.Add(ref transfers, result.LeadershipTransfers);
            Interlocked.Add(ref reads, result.ReadsServed);
            Interlocked.Add(ref writes, result.AcknowledgedWrites);
            Interlocked.Add(ref linearizableReads, result.LinearizableReads);
            Interlocked.Add(ref staleReads, result.StaleReads);
            Interlocked.Add(ref retries, result.ClientRetries);
            if (!result.Passed) failures.Add(result);
        });
        foreach (SimulationResult failure in failures.OrderBy(f => f.Seed).Take(5))
        {
            output.WriteLine($"seed {failure.Seed}: {string.Join(" | ", failure.Violations)}\n  {failure.ReplayCommand}");
        }
        Assert.Empty(failures);
        Assert.True(commits > SweepSeeds * 20, $"the sweep committed only {commits} entries: it is not exercising replication");
        output.WriteLine($"commits={commits} membershipChanges={membershipChanges} transfers={transfers} readIndexes={reads} " +
                         $"ackedWrites={writes} linearizableReads={linearizableReads} staleReads={staleReads} clientRetries={retries}");
        Assert.True(membershipChanges > SweepSeeds / 2, $"only {membershipChanges} membership changes: the churn is not exercised");
        Assert.True(transfers > SweepSeeds / 4, $"only {transfers} leadership transfers");
        Assert.True(reads > SweepSeeds * 5, $"only {reads} reads served");
        Assert.True(writes > SweepSeeds * 10, $"only {writes} acknowledged client writes");
        Assert.True(linearizableReads > SweepSeeds * 5, $"only {linearizableReads} linearizable client reads");
        Assert.True(staleReads > SweepSeeds / 5, $"only {staleReads} stale reads");
        Assert.True(retries > SweepSeeds * 10, $"only {retries} client retries: lost replies are not exercised");
    }

    [Fact]
    public void The_same_seed_replays_the_same_run()
    {
        foreach (SimulatedStorageKind storage in new[] { SimulatedStorageKind.Memory, SimulatedStorageKind.WriteAheadLog })
        {
            SimulationResult first = new ClusterSimulation(SimulationOptions.Swarm(77, storage: storage)).Run();
            SimulationResult second = new ClusterSimulation(SimulationOptions.Swarm(77, storage: storage)).Run();
            // The trace hash digests every node's role, term, commit and applied index after every event.
            Assert.Equal(first.TraceHash, second.TraceHash);
            Assert.Equal((first.Events, first.Commits, first.Elections, first.SimulatedMs), (second.Events, second.Commits, second.Elections, second.SimulatedMs));
            Assert.Equal((first.AcknowledgedWrites, first.LinearizableReads, first.StaleReads, first.ClientRetries, first.SnapshotTransfers),
                         (second.AcknowledgedWrites, second.LinearizableReads, second.StaleReads, second.ClientRetries, second.SnapshotTransfers));
            Assert.True(first.AcknowledgedWrites > 0, "seed 77 acknowledged no client write");
        }
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
    public void The_checkers_catch_a_leader_that_serves_ReadIndex_without_confirming_leadership()
    {
        SimulationResult caught = FirstCaught(SimulatedBug.ReadIndexWithoutLeadershipConfirmation, maxSeed: 4000);
        Assert.Contains(caught.Violations, v => v.Contains("linearizability"));
    }

    [Fact]
    public void The_checkers_catch_a_state_machine_that_applies_a_retried_command_twice()
    {
        SimulationResult caught = FirstCaught(SimulatedBug.ApplyRetriedCommandTwice, maxSeed: 2000);
        Assert.Contains(caught.Violations, v => v.Contains("exactly-once") || v.Contains("linearizability"));
    }

    [Fact]
    public void The_checkers_catch_a_driver_that_keeps_requests_waiting_after_a_leadership_change()
    {
        SimulationResult caught = FirstCaught(SimulatedBug.KeepRequestsOnLeadershipLoss, maxSeed: 2000);
        Assert.Contains(caught.Violations, v => v.Contains("fail fast"));
    }

    /// <summary>The lowest seed up to <paramref name="maxSeed"/> whose run fails with <paramref name="bug"/> on (batches run in parallel; the answer is deterministic).</summary>
    private SimulationResult FirstCaught(SimulatedBug bug, int maxSeed)
    {
        const int batch = 64;
        for (int first = 1; first <= maxSeed; first += batch)
        {
            var failed = new System.Collections.Concurrent.ConcurrentBag<SimulationResult>();
            Parallel.For(first, Math.Min(first + batch, maxSeed + 1), seed =>
            {
                SimulationResult result = new ClusterSimulation(SimulationOptions.Swarm((ulong)seed, bug)).Run();
                if (!result.Passed) failed.Add(result);
            });
            if (failed.MinBy(r => r.Seed) is { } caught)
            {
                output.WriteLine($"{bug} caught at seed {caught.Seed}: {caught.Violations[0]}\n  {caught.ReplayCommand}");
                return caught;
            }
        }
        Assert.Fail($"{bug} was not caught in {maxSeed} seeds");
        return null!;
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
