using System.Globalization;
using System.Text;
using System.Text.Json;
using RaftKv.Chaos.Checkers;
using RaftKv.Chaos.Faults;
using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Runner;

/// <summary>
/// The outcome of a run and its files: history.jsonl (every operation), history.txt (readable), timeline.txt
/// (faults), verdicts.txt (every checker), failing-key.txt (the smallest failing key's shortest failing history, on
/// a violation) and summary.txt (the one-line summary, ending with violations=N).
/// </summary>
public sealed record ChaosReport
{
    public required ChaosOptions Options { get; init; }

    public required string Directory { get; init; }

    public required IReadOnlyList<Operation> Operations { get; init; }

    public required IReadOnlyList<FaultEvent> Timeline { get; init; }

    public required IReadOnlyDictionary<string, int> FaultCounts { get; init; }

    public required IReadOnlyList<KeyVerdict> Linearizability { get; init; }

    public required CounterChecker.Verdict Counter { get; init; }

    public required IReadOnlyList<LostWriteChecker.LostWrite> LostWrites { get; init; }

    public required ConvergenceChecker.Verdict Convergence { get; init; }

    public required IReadOnlyList<NodeState?> NodeStates { get; init; }

    public required int FinalReadsMissing { get; init; }

    public required long HealedUs { get; init; }

    public required IReadOnlyList<string> UnsupportedFaults { get; init; }

    public int NonLinearizableKeys => Linearizability.Count(v => v.Violation);

    public int UndecidedKeys => Linearizability.Count(v => v.GaveUp);

    /// <summary>Every checker failure counts: non-linearizable keys, a wrong counter, each lost write, no convergence.</summary>
    public int Violations => NonLinearizableKeys + (Counter.Valid || Counter.Final is null ? 0 : 1) + LostWrites.Count + (Convergence.Converged ? 0 : 1);

    /// <summary>
    /// The longest time from a heal to the next acknowledged write (any client): how long the cluster stayed
    /// unavailable after a fault ended.
    /// </summary>
    public TimeSpan LongestUnavailabilityAfterHeal
    {
        get
        {
            long[] okWrites = [.. Operations.Where(o => o.Outcome == Outcome.Ok && o.IsWrite).Select(o => o.CompleteUs).Order()];
            long longest = 0;
            foreach (FaultEvent heal in Timeline.Where(e => e.Phase == FaultPhase.Heal))
            {
                int index = Array.BinarySearch(okWrites, heal.TimeUs);
                if (index < 0) index = ~index;
                if (index < okWrites.Length) longest = Math.Max(longest, okWrites[index] - heal.TimeUs);
            }
            return TimeSpan.FromMicroseconds(longest);
        }
    }

    public string Summary
    {
        get
        {
            var s = new StringBuilder();
            s.Append(CultureInfo.InvariantCulture, $"chaos seed={Options.Seed} nodes={Options.Nodes} duration={Options.Duration.TotalSeconds:F0}s");
            s.Append(CultureInfo.InvariantCulture, $" ops={Operations.Count} ok={Count(Outcome.Ok)} fail={Count(Outcome.Fail)} info={Count(Outcome.Info)}");
            s.Append(CultureInfo.InvariantCulture, $" unknown-writes={Operations.Count(o => o.Outcome == Outcome.Info && o.IsWrite)}");
            s.Append(" faults[").Append(string.Join(' ', FaultCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"))).Append(']');
            s.Append(CultureInfo.InvariantCulture, $" longest-unavailability-after-heal={LongestUnavailabilityAfterHeal.TotalMilliseconds:F0}ms");
            s.Append(CultureInfo.InvariantCulture, $" keys-checked={Linearizability.Count} undecided={UndecidedKeys} counter={(Counter.Valid ? "ok" : Counter.Final is null ? "unread" : "WRONG")}");
            s.Append(CultureInfo.InvariantCulture, $" lost-writes={LostWrites.Count} converged={(Convergence.Converged ? "yes" : "NO")} final-reads-missing={FinalReadsMissing}");
            s.Append(CultureInfo.InvariantCulture, $" violations={Violations}");
            return s.ToString();
        }
    }

    private int Count(Outcome outcome) => Operations.Count(o => o.Outcome == outcome);

    public string Verdicts
    {
        get
        {
            var s = new StringBuilder();
            s.AppendLine(CultureInfo.InvariantCulture, $"seed {Options.Seed}; rerun: {RerunCommand}");
            if (UnsupportedFaults.Count > 0) s.AppendLine("fault kinds not available here: " + string.Join(", ", UnsupportedFaults));
            s.AppendLine("linearizability (register with CAS, per key):");
            foreach (KeyVerdict v in Linearizability)
            {
                string verdict = v.Linearizable ? "linearizable" : v.GaveUp ? "UNDECIDED (search limit)" : "NOT LINEARIZABLE";
                s.AppendLine(CultureInfo.InvariantCulture, $"  {v.Key}: {verdict} ({v.Operations} operations, {v.StatesExplored} search steps)");
            }
            s.AppendLine(CultureInfo.InvariantCulture, $"counter {Counter.Key}: {(Counter.Valid ? "ok" : "WRONG")}: {Counter.Reason}");
            s.AppendLine(CultureInfo.InvariantCulture, $"lost acknowledged writes: {LostWrites.Count}");
            foreach (var lost in LostWrites.Take(50)) s.AppendLine(CultureInfo.InvariantCulture, $"  {lost.Write}  -- {lost.Why}");
            s.AppendLine(CultureInfo.InvariantCulture, $"convergence: {(Convergence.Converged ? "ok" : "FAILED")}: {Convergence.Reason}");
            s.AppendLine(CultureInfo.InvariantCulture, $"final reads that never succeeded: {FinalReadsMissing}");
            return s.ToString();
        }
    }

    public string RerunCommand =>
        $"dotnet run -c Release --project Tests/RaftKv.Chaos -- --seed {Options.Seed} --duration {Options.Duration.TotalSeconds:F0}s --nodes {Options.Nodes}" +
        (Options.Faults is null ? "" : $" --faults {(Options.Faults.Count == 0 ? "none" : string.Join(",", Options.Faults.Select(f => f.Name())))}") +
        (Options.NetworkNamespaces ? "" : " --loopback") +
        (Options.Clients.SequenceEqual(["grpc", "orleans"]) ? "" : $" --clients {string.Join(",", Options.Clients)}") +
        string.Concat(Options.SiloArguments.Select(a => $" --silo-arg {a}"));

    /// <summary>The smallest failing key's shortest failing history, readable; null without a linearizability violation.</summary>
    public string? FailingKeyHistory
    {
        get
        {
            KeyVerdict? smallest = Linearizability.Where(v => v.Violation).OrderBy(v => v.FailingHistory.Count).FirstOrDefault();
            if (smallest is null) return null;
            var s = new StringBuilder();
            s.AppendLine(CultureInfo.InvariantCulture, $"key {smallest.Key}: not linearizable. Shortest failing prefix in time: {smallest.FailingHistory.Count} of {smallest.Operations} operations.");
            s.AppendLine("Unknown (info) writes may take effect any time after their invocation, up to the next acknowledged write of the same client.");
            s.AppendLine(CultureInfo.InvariantCulture, $"Rerun: {RerunCommand}");
            var ordered = smallest.FailingHistory.OrderBy(o => o.InvokeUs).ToList();
            // The prefix is linearizable without its last completed operation, so the contradiction is at its end.
            s.AppendLine(CultureInfo.InvariantCulture, $"Last {Math.Min(ordered.Count, 30)} operations of the failing prefix (the contradiction is among them):");
            foreach (Operation op in ordered.TakeLast(30)) s.AppendLine("  " + op);
            s.AppendLine("The whole failing prefix:");
            foreach (Operation op in ordered) s.AppendLine("  " + op);
            long from = smallest.FailingHistory.Count == 0 ? 0 : smallest.FailingHistory.Min(o => o.InvokeUs);
            s.AppendLine("faults during this history:");
            foreach (FaultEvent e in Timeline.Where(e => e.TimeUs >= from - 5_000_000 && e.TimeUs <= smallest.FailingHistory.Select(o => o.CompleteUs).Where(t => t != long.MaxValue).DefaultIfEmpty(from).Max()))
                s.AppendLine("  " + e);
            return s.ToString();
        }
    }

    public void Write()
    {
        System.IO.Directory.CreateDirectory(Directory);
        using (var jsonl = new StreamWriter(Path.Combine(Directory, "history.jsonl")))
        {
            foreach (Operation op in Operations) jsonl.WriteLine(JsonSerializer.Serialize(op));
        }
        File.WriteAllLines(Path.Combine(Directory, "history.txt"), Operations.Select(o => o.ToString()));
        File.WriteAllLines(Path.Combine(Directory, "timeline.txt"), Timeline.Select(e => e.ToString()));
        File.WriteAllText(Path.Combine(Directory, "verdicts.txt"), Verdicts);
        if (FailingKeyHistory is { } failing) File.WriteAllText(Path.Combine(Directory, "failing-key.txt"), failing);
        File.WriteAllText(Path.Combine(Directory, "summary.txt"), Summary + "\n");
    }
}
