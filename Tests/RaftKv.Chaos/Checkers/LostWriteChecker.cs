using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Checkers;

/// <summary>
/// No acknowledged write lost. Two forms:
/// <list type="bullet">
/// <item>Write-once keys: every acknowledged put must be found, with its value, by the final reads after healing.</item>
/// <item>Registers: the final value's writer must not have completed before an acknowledged write to the same key
/// was invoked (values are unique, so that write would have had to vanish).</item>
/// </list>
/// The final reads are operations of the history (linearizable gets after every fault healed).
/// </summary>
public static class LostWriteChecker
{
    public sealed record LostWrite(Operation Write, string Why);

    /// <summary>Acknowledged puts of write-once keys whose final read does not return them.</summary>
    public static IReadOnlyList<LostWrite> CheckWriteOnce(IReadOnlyList<Operation> history, string keyPrefix, IReadOnlyDictionary<string, string?> finalValues)
    {
        var lost = new List<LostWrite>();
        foreach (Operation put in history.Where(o => o.Kind == OpKind.Put && o.Outcome == Outcome.Ok && o.Key.StartsWith(keyPrefix, StringComparison.Ordinal)))
        {
            if (!finalValues.TryGetValue(put.Key, out string? found)) continue; // not read at the end: no verdict
            if (found != put.Value) lost.Add(new LostWrite(put, found is null ? "absent after healing" : $"reads {found} after healing"));
        }
        return lost;
    }

    /// <summary>Acknowledged register writes that the final value proves lost.</summary>
    public static IReadOnlyList<LostWrite> CheckRegisters(IReadOnlyList<Operation> history, IReadOnlyDictionary<string, string?> finalValues)
    {
        var prepared = LinearizabilityChecker.Prepare(history);
        var lost = new List<LostWrite>();
        foreach ((string key, string? final) in finalValues)
        {
            var writes = prepared.Where(o => o.Key == key && o.IsWrite).ToList();
            // Writes that could have produced the final state: puts/swaps of that value, or any delete when absent.
            var producers = writes.Where(o => final is null
                ? o.Kind == OpKind.Delete && (o.Outcome == Outcome.Info || o.Succeeded)
                : o.Kind is OpKind.Put or OpKind.Cas && o.Value == final && (o.Outcome == Outcome.Info || o.Kind == OpKind.Put || o.Succeeded)).ToList();
            if (producers.Count == 0 && final is null) continue; // never written, or every write was lost: the linearizability check reports it
            long latestProducerEnd = producers.Count == 0 ? long.MinValue : producers.Max(o => o.CompleteUs);
            foreach (Operation write in writes.Where(o => o.Outcome == Outcome.Ok && Changes(o)))
            {
                if (producers.Count == 0) lost.Add(new LostWrite(write, $"the final value {final} was never written"));
                else if (latestProducerEnd < write.InvokeUs) lost.Add(new LostWrite(write, $"the final value {final ?? "absent"} was written before this write began"));
            }
        }
        return lost;
    }

    private static bool Changes(Operation write) => write.Kind == OpKind.Put || write.Succeeded;
}
