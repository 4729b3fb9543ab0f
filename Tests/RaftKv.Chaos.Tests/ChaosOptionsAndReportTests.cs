using RaftKv.Chaos.Checkers;
using RaftKv.Chaos.Faults;
using RaftKv.Chaos.History;
using RaftKv.Chaos.Runner;

namespace RaftKv.Chaos.Tests;

public sealed class ChaosOptionsAndReportTests
{
    [Fact]
    public void The_documented_command_line_parses()
    {
        var options = ChaosOptions.Parse(["--seed", "42", "--duration", "600s", "--nodes", "5", "--faults", "kill,isolate-leader,clock",
            "--fault-ms", "500-900", "--silo-arg", "--RaftKv:TestFaultServeReadsLocally=true"]);
        Assert.Equal(42, options.Seed);
        Assert.Equal(TimeSpan.FromMinutes(10), options.Duration);
        Assert.Equal(5, options.Nodes);
        Assert.Equal([FaultKind.KillNode, FaultKind.IsolateLeader, FaultKind.ClockSkew], options.Faults);
        Assert.Equal((500, 900), (options.MinFaultMs, options.MaxFaultMs));
        Assert.Equal(["--RaftKv:TestFaultServeReadsLocally=true"], options.SiloArguments);
        Assert.Null(ChaosOptions.Parse(["--faults", "all"]).Faults);
        Assert.Throws<ArgumentException>(() => ChaosOptions.Parse(["--faults", "meteor"]));
        Assert.Equal(["grpc", "orleans"], options.Clients);
        Assert.Equal(["orleans"], ChaosOptions.Parse(["--clients", "orleans"]).Clients);
        Assert.Throws<ArgumentException>(() => ChaosOptions.Parse(["--clients", "carrier-pigeon"]));
    }

    private static ChaosReport Report(IReadOnlyList<Operation> operations, IReadOnlyList<FaultEvent> timeline, bool converged = true) => new()
    {
        Options = new ChaosOptions { Seed = 9 }, Directory = Path.GetTempPath(), Operations = operations, Timeline = timeline,
        FaultCounts = new Dictionary<string, int> { ["kill"] = 2 },
        Linearizability = LinearizabilityChecker.CheckAll(operations),
        Counter = CounterChecker.Check(operations, "c", 0), LostWrites = [],
        Convergence = new ConvergenceChecker.Verdict(converged, ""), NodeStates = [], FinalReadsMissing = 0, HealedUs = 0, UnsupportedFaults = [],
    };

    [Fact]
    public void The_summary_counts_outcomes_faults_and_unavailability_and_ends_with_the_violations()
    {
        var ops = new HistoryBuilder().Put(1, 0, 10, "a").Put(1, 1_000, 1_500, "b").Get(2, 20, 30, "a").Put(3, 40, 50, "x", Outcome.Info).Operations;
        var report = Report(ops, [new FaultEvent(100_000, FaultPhase.Heal, "kill", "restarted")]);
        Assert.Equal(0, report.Violations);
        Assert.EndsWith("violations=0", report.Summary, StringComparison.Ordinal);
        Assert.Contains("ok=3 fail=0 info=1", report.Summary, StringComparison.Ordinal);
        Assert.Contains("faults[kill=2]", report.Summary, StringComparison.Ordinal);
        // The heal at 100 ms is followed by the next acknowledged write at 1500 ms.
        Assert.Contains("longest-unavailability-after-heal=1400ms", report.Summary, StringComparison.Ordinal);
        Assert.Contains("--seed 9", report.RerunCommand, StringComparison.Ordinal);

        var stale = new HistoryBuilder().Put(1, 0, 10, "a").Put(1, 20, 30, "b").Get(2, 40, 50, "a").Operations;
        var bad = Report(stale, [], converged: false);
        Assert.Equal(2, bad.Violations);
        Assert.EndsWith("violations=2", bad.Summary, StringComparison.Ordinal);
        Assert.Contains("get k -> a", bad.FailingKeyHistory, StringComparison.Ordinal);
    }
}
