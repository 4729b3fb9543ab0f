using RaftKv.Chaos.Checkers;
using RaftKv.Chaos.Faults;
using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Tests;

public sealed class CounterCheckerTests
{
    private static HistoryBuilder Increments() => new HistoryBuilder()
        .Cas(1, 0, 10, null, "1", succeeded: true, key: "c")
        .Cas(2, 20, 30, "1", "2", succeeded: true, key: "c")
        .Cas(1, 40, 50, "2", "3", succeeded: false, current: "2", outcome: Outcome.Info, key: "c")
        .Cas(2, 60, 70, "1", "2", succeeded: false, current: "2", key: "c");

    [Theory]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(1, false)] // an acknowledged increment vanished
    [InlineData(4, false)] // an increment was applied twice (or invented)
    public void The_final_value_lies_between_acknowledged_and_acknowledged_plus_unknown(long final, bool valid)
    {
        var verdict = CounterChecker.Check(Increments().Operations, "c", final);
        Assert.Equal(valid, verdict.Valid);
        Assert.Equal(2, verdict.Acknowledged);
        Assert.Equal(1, verdict.Unknown);
    }

    [Fact]
    public void An_unread_counter_is_not_valid() => Assert.False(CounterChecker.Check(Increments().Operations, "c", null).Valid);
}

public sealed class LostWriteCheckerTests
{
    [Fact]
    public void An_acknowledged_write_once_put_missing_at_the_end_is_lost_but_an_unknown_one_is_not()
    {
        var h = new HistoryBuilder().Put(1, 0, 10, "v1", key: "u/1").Put(1, 20, 30, "v2", Outcome.Info, key: "u/2").Put(1, 40, 50, "v3", key: "u/3");
        var final = new Dictionary<string, string?> { ["u/1"] = "v1", ["u/2"] = null, ["u/3"] = null };
        var lost = LostWriteChecker.CheckWriteOnce(h.Operations, "u/", final);
        Assert.Equal("u/3", Assert.Single(lost).Write.Key);
    }

    [Fact]
    public void A_register_whose_final_value_predates_an_acknowledged_write_lost_that_write()
    {
        var h = new HistoryBuilder().Put(1, 0, 10, "a").Put(2, 20, 30, "b").Put(3, 25, 40, "c", Outcome.Info);
        Assert.Empty(LostWriteChecker.CheckRegisters(h.Operations, new Dictionary<string, string?> { ["k"] = "b" }));
        Assert.Empty(LostWriteChecker.CheckRegisters(h.Operations, new Dictionary<string, string?> { ["k"] = "c" }));
        var lost = LostWriteChecker.CheckRegisters(h.Operations, new Dictionary<string, string?> { ["k"] = "a" });
        Assert.Equal("b", Assert.Single(lost).Write.Value);
    }
}

public sealed class ConvergenceCheckerTests
{
    [Fact]
    public void Nodes_converge_only_with_equal_applied_index_and_state()
    {
        Assert.True(ConvergenceChecker.Check([new NodeState(1, 9, 9, "x"), new NodeState(2, 9, 9, "x")]).Converged);
        Assert.False(ConvergenceChecker.Check([new NodeState(1, 9, 9, "x"), new NodeState(2, 9, 8, "x")]).Converged);
        Assert.False(ConvergenceChecker.Check([new NodeState(1, 9, 9, "x"), new NodeState(2, 9, 9, "y")]).Converged);
        Assert.False(ConvergenceChecker.Check([new NodeState(1, 9, 9, "x"), null]).Converged);
    }
}

public sealed class FaultScheduleTests
{
    [Fact]
    public void The_schedule_is_a_function_of_the_seed_and_covers_every_kind_in_each_round()
    {
        var kinds = Enum.GetValues<FaultKind>();
        var first = new FaultSchedule(7, kinds).Plan().Take(3 * kinds.Length).ToList();
        var again = new FaultSchedule(7, kinds).Plan().Take(3 * kinds.Length).ToList();
        var other = new FaultSchedule(8, kinds).Plan().Take(3 * kinds.Length).ToList();
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.Equal(kinds.Order(), first.Take(kinds.Length).Select(f => f.Kind).Order());
    }

    [Fact]
    public void Fault_names_round_trip() =>
        Assert.All(Enum.GetValues<FaultKind>(), kind => Assert.Equal(kind, FaultKinds.Parse(kind.Name())));
}
