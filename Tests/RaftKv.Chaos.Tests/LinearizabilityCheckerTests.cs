using RaftKv.Chaos.Checkers;
using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Tests;

public sealed class LinearizabilityCheckerTests
{
    private static KeyVerdict Check(HistoryBuilder history) => LinearizabilityChecker.CheckAll(history.Operations).Single();

    [Fact]
    public void Sequential_puts_and_reads_are_linearizable()
    {
        var h = new HistoryBuilder().Put(1, 0, 10, "a").Get(2, 20, 30, "a").Put(1, 40, 50, "b").Get(2, 60, 70, "b").Delete(1, 80, 90, existed: true).Get(2, 100, 110, null);
        Assert.True(Check(h).Linearizable);
    }

    [Fact]
    public void A_read_of_an_overwritten_value_after_the_overwrite_completed_is_a_stale_read()
    {
        var h = new HistoryBuilder().Put(1, 0, 10, "a").Put(1, 20, 30, "b").Get(2, 40, 50, "a");
        KeyVerdict verdict = Check(h);
        Assert.True(verdict.Violation);
        Assert.Contains(verdict.FailingHistory, o => o.Kind == OpKind.Get && o.Value == "a");
    }

    [Fact]
    public void A_read_concurrent_with_a_write_may_see_either_value()
    {
        var before = new HistoryBuilder().Put(1, 0, 10, "a").Put(1, 20, 60, "b").Get(2, 30, 40, "a").Get(3, 35, 45, "b");
        Assert.True(Check(before).Linearizable);
        // ...but not "b" and then, strictly later, "a" again.
        var flicker = new HistoryBuilder().Put(1, 0, 10, "a").Put(1, 20, 100, "b").Get(2, 30, 40, "b").Get(3, 50, 60, "a");
        Assert.True(Check(flicker).Violation);
    }

    [Fact]
    public void Two_successful_creates_without_a_delete_between_are_not_linearizable()
    {
        var h = new HistoryBuilder().Cas(1, 0, 10, null, "a", succeeded: true).Cas(2, 20, 30, null, "b", succeeded: true);
        Assert.True(Check(h).Violation);
    }

    [Fact]
    public void A_failed_cas_must_report_the_current_value()
    {
        var right = new HistoryBuilder().Put(1, 0, 10, "a").Cas(2, 20, 30, "x", "y", succeeded: false, current: "a");
        Assert.True(Check(right).Linearizable);
        var wrong = new HistoryBuilder().Put(1, 0, 10, "a").Cas(2, 20, 30, "x", "y", succeeded: false, current: "z");
        Assert.True(Check(wrong).Violation);
        var refusedWhenItShouldSwap = new HistoryBuilder().Put(1, 0, 10, "a").Cas(2, 20, 30, "a", "y", succeeded: false, current: "a");
        Assert.True(Check(refusedWhenItShouldSwap).Violation);
    }

    [Fact]
    public void Delete_must_report_whether_the_key_existed()
    {
        Assert.True(Check(new HistoryBuilder().Delete(1, 0, 10, existed: false).Put(1, 20, 30, "a").Delete(2, 40, 50, existed: true)).Linearizable);
        Assert.True(Check(new HistoryBuilder().Delete(1, 0, 10, existed: true)).Violation);
    }

    [Fact]
    public void An_unknown_write_may_take_effect_late_or_never()
    {
        var late = new HistoryBuilder().Put(1, 0, 10, "a").Put(2, 20, 30, "b", Outcome.Info).Get(3, 40, 50, "a").Get(3, 60, 70, "b");
        Assert.True(Check(late).Linearizable);
        var never = new HistoryBuilder().Put(1, 0, 10, "a").Put(2, 20, 30, "b", Outcome.Info).Get(3, 40, 50, "a");
        Assert.True(Check(never).Linearizable);
        // A failed write never takes effect.
        var failed = new HistoryBuilder().Put(1, 0, 10, "a").Put(2, 20, 30, "b", Outcome.Fail).Get(3, 40, 50, "b");
        Assert.True(Check(failed).Violation);
    }

    [Fact]
    public void An_unknown_write_cannot_take_effect_after_the_next_acknowledged_write_of_its_session()
    {
        // Process 2's "b" is unknown, then process 2 writes "c" (acknowledged at 50). The session table refuses "b"
        // from then on, so a read that starts after 50 and sees "b" is not linearizable...
        var bounded = new HistoryBuilder().Put(1, 0, 10, "a").Put(2, 20, 30, "b", Outcome.Info).Put(2, 40, 50, "c", key: "other").Get(3, 60, 70, "b").Get(3, 80, 90, "b");
        bounded.Put(1, 55, 58, "d");
        var verdicts = LinearizabilityChecker.CheckAll(bounded.Operations);
        Assert.True(verdicts.Single(v => v.Key == "k").Violation);
        // ...whereas from another session it could have been applied late.
        var unbounded = new HistoryBuilder().Put(1, 0, 10, "a").Put(2, 20, 30, "b", Outcome.Info).Put(4, 40, 50, "c", key: "other").Put(1, 55, 58, "d").Get(3, 60, 70, "b");
        Assert.True(LinearizabilityChecker.CheckAll(unbounded.Operations).Single(v => v.Key == "k").Linearizable);
    }

    [Fact]
    public void Reads_that_failed_are_ignored()
    {
        var h = new HistoryBuilder().Put(1, 0, 10, "a").Get(2, 20, 30, "zzz", Outcome.Fail);
        Assert.True(Check(h).Linearizable);
    }

    [Fact]
    public void Random_histories_from_a_real_register_are_linearizable_and_a_corrupted_read_is_caught()
    {
        for (int seed = 1; seed <= 40; seed++)
        {
            var (good, readIndex) = RandomHistory(seed, operations: 300);
            Assert.True(LinearizabilityChecker.CheckKey("k", good).Linearizable, $"seed {seed}");
            var bad = good.ToList();
            bad[readIndex] = bad[readIndex] with { Value = "never-written" };
            var verdict = LinearizabilityChecker.CheckKey("k", bad);
            Assert.True(verdict.Violation, $"seed {seed}");
            Assert.True(verdict.FailingHistory.Count <= bad.Count);
            Assert.Contains(verdict.FailingHistory, o => o.Value == "never-written");
        }
    }

    /// <summary>
    /// Five clients on one register: each operation takes effect atomically at a random moment inside its interval,
    /// and what it observes is computed at that moment, so the history is linearizable by construction. Some writes
    /// are recorded as unknown (their effect still happened).
    /// </summary>
    private static (List<Operation> History, int ReadIndex) RandomHistory(int seed, int operations)
    {
        var random = new Random(seed);
        var events = new List<(long At, int Index)>();
        var ops = new List<Operation>();
        var clientFree = new long[5];
        for (int i = 0; i < operations; i++)
        {
            int process = random.Next(5);
            long invoke = clientFree[process] + random.Next(1, 20);
            long complete = invoke + random.Next(1, 60);
            clientFree[process] = complete;
            long at = random.NextInt64(invoke, complete + 1);
            var kind = (OpKind)random.Next(4);
            ops.Add(new Operation { Id = i + 1, Process = process, Key = "k", Kind = kind, InvokeUs = invoke, CompleteUs = complete, Outcome = Outcome.Ok, Value = kind == OpKind.Get ? null : $"v{i}" });
            events.Add((at, i));
        }
        string? state = null;
        foreach (var (_, index) in events.OrderBy(e => e.At))
        {
            Operation op = ops[index];
            switch (op.Kind)
            {
                case OpKind.Put: state = op.Value; break;
                case OpKind.Get: ops[index] = op with { Value = state }; break;
                case OpKind.Delete: ops[index] = op with { Succeeded = state is not null }; state = null; break;
                case OpKind.Cas:
                    string? expected = random.Next(2) == 0 ? state : "v-nope";
                    bool swapped = expected == state;
                    ops[index] = op with { Expected = expected, Succeeded = swapped, Current = swapped ? null : state };
                    if (swapped) state = op.Value;
                    break;
            }
        }
        for (int i = 0; i < ops.Count; i++)
        {
            // Unknown outcome for some writes that did take effect; the client's later writes are in the same process.
            if (ops[i].IsWrite && random.Next(10) == 0) ops[i] = ops[i] with { Outcome = Outcome.Info };
        }
        int readIndex = ops.FindIndex(o => o.Kind == OpKind.Get);
        return (ops, readIndex);
    }
}
