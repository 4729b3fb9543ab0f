using RaftKv.Raft;

namespace RaftKv.Simulation;

/// <summary>
/// Election convergence on a healthy network: cold-start time to the first leader, and failover time after the
/// leader is killed, over many seeded trials. Times are reported in simulated ms and in units of the base election
/// timeout T (timeouts are drawn from [T, 2T)).
/// </summary>
public sealed record ElectionStatistics(int Trials, int NodeCount, int ElectionTimeoutMs, double ColdStartWithin2TShare,
    double ColdStartP50Ms, double ColdStartP99Ms, double FailoverP50Ms, double FailoverP99Ms, int FailoverTrials)
{
    public static ElectionStatistics Measure(int trials, int nodeCount)
    {
        var options = new SimulationOptions
        {
            NodeCount = nodeCount, MinLatencyMs = 1, MaxLatencyMs = 5, ProposalIntervalMs = 50, MaxCommands = 0,
        };
        int electionTimeoutMs = options.ElectionTimeoutTicks * options.TickIntervalMs;
        var coldStarts = new List<double>();
        var failovers = new List<double>();
        for (int trial = 1; trial <= trials; trial++)
        {
            var simulation = new ClusterSimulation(options with { Seed = (ulong)trial });
            simulation.Start();
            bool elected = simulation.RunUntil(20L * electionTimeoutMs, () => simulation.CurrentLeader() is not null);
            if (!elected) continue;
            coldStarts.Add(simulation.NowMs);

            // Let the leader settle, kill it, and time the election of its successor.
            simulation.RunUntil(simulation.NowMs + 5L * electionTimeoutMs, () => false);
            ulong? leader = simulation.CurrentLeader();
            if (leader is null) continue;
            long killedAt = simulation.NowMs;
            simulation.Crash(leader.Value);
            if (simulation.RunUntil(killedAt + 20L * electionTimeoutMs, () => simulation.CurrentLeader() is { } next && next != leader))
            {
                failovers.Add(simulation.NowMs - killedAt);
            }
        }
        return new ElectionStatistics(trials, nodeCount, electionTimeoutMs,
            coldStarts.Count(t => t <= 2 * electionTimeoutMs) / (double)trials,
            Percentiles.NearestRank(coldStarts, 0.50), Percentiles.NearestRank(coldStarts, 0.99),
            Percentiles.NearestRank(failovers, 0.50), Percentiles.NearestRank(failovers, 0.99), failovers.Count);
    }

    public string Summary() =>
        $"elections: nodes={NodeCount} T={ElectionTimeoutMs}ms (timeouts drawn from [T,2T)) trials={Trials}\n" +
        $"  cold start: {ColdStartWithin2TShare:P2} elected a leader within 2T; p50={ColdStartP50Ms}ms ({ColdStartP50Ms / ElectionTimeoutMs:F2}T) p99={ColdStartP99Ms}ms ({ColdStartP99Ms / ElectionTimeoutMs:F2}T)\n" +
        $"  failover after killing the leader ({FailoverTrials} trials): p50={FailoverP50Ms}ms ({FailoverP50Ms / ElectionTimeoutMs:F2}T) p99={FailoverP99Ms}ms ({FailoverP99Ms / ElectionTimeoutMs:F2}T)";
}
