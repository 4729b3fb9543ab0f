namespace RaftKv.Linearizability;

/// <summary>The verdict for one key.</summary>
public sealed record KeyVerdict(string Key, int Operations, bool Linearizable, bool GaveUp, long StatesExplored, IReadOnlyList<Operation> FailingHistory)
{
    public bool Violation => !Linearizable && !GaveUp;
}

/// <summary>
/// Per-key linearizability of a register with CAS: the Wing &amp; Gong search with Lowe's just-in-time linearization
/// and memoisation of (set of linearized operations, register state), as in Knossos and Porcupine. The set is kept
/// as a 128-bit Zobrist hash, so memory stays proportional to the states explored.
/// </summary>
/// <remarks>
/// Preparation (see <see cref="Prepare"/>): failed operations and reads with unknown outcome are dropped (they have
/// no effect); a write with unknown outcome may take effect at any moment after its invocation, but no later than
/// the completion of the next acknowledged write of the same client session, because the session table refuses a
/// lower sequence number once a higher one was applied. Without such a write its window is open-ended.
/// </remarks>
public static class LinearizabilityChecker
{
    /// <summary>Above this many explored states for one key the search gives up (reported, never counted as a pass).</summary>
    public const long DefaultMaxStates = 20_000_000;

    public static IReadOnlyList<KeyVerdict> CheckAll(IReadOnlyList<Operation> history, IEnumerable<string>? keys = null, long maxStates = DefaultMaxStates)
    {
        var prepared = Prepare(history);
        var wanted = keys?.ToHashSet(StringComparer.Ordinal);
        return [.. prepared.GroupBy(o => o.Key, StringComparer.Ordinal)
            .Where(g => wanted is null || wanted.Contains(g.Key))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .AsParallel().AsOrdered()
            .Select(g => CheckKey(g.Key, [.. g], maxStates))];
    }

    /// <summary>Drops operations without effect and bounds the windows of unknown writes (see remarks).</summary>
    public static IReadOnlyList<Operation> Prepare(IReadOnlyList<Operation> history)
    {
        var result = new List<Operation>(history.Count);
        foreach (var byProcess in history.GroupBy(o => o.Process))
        {
            Operation[] ops = [.. byProcess.OrderBy(o => o.InvokeUs)];
            long nextAcknowledgedWrite = long.MaxValue;
            for (int i = ops.Length - 1; i >= 0; i--)
            {
                Operation op = ops[i];
                if (op.Outcome == Outcome.Fail) continue;
                if (op.Outcome == Outcome.Info)
                {
                    if (op.IsWrite) result.Add(op with { CompleteUs = nextAcknowledgedWrite });
                    continue;
                }
                result.Add(op);
                if (op.IsWrite) nextAcknowledgedWrite = op.CompleteUs;
            }
        }
        return [.. result.OrderBy(o => o.InvokeUs).ThenBy(o => o.Id)];
    }

    /// <summary>Checks one key's prepared history; on a violation, also finds the shortest failing prefix in time.</summary>
    public static KeyVerdict CheckKey(string key, IReadOnlyList<Operation> ops, long maxStates = DefaultMaxStates)
    {
        var (result, explored) = Search(ops, maxStates);
        if (result != SearchResult.NotLinearizable)
        {
            return new KeyVerdict(key, ops.Count, result == SearchResult.Linearizable, result == SearchResult.GaveUp, explored, []);
        }
        return new KeyVerdict(key, ops.Count, false, false, explored, ShortestFailingPrefix(ops, maxStates));
    }

    /// <summary>
    /// Binary search for the earliest cut time T such that the history as seen at T (operations invoked before T;
    /// those still running at T become unknown) is already not linearizable. Such prefixes are monotone: a
    /// linearizable history stays linearizable when pending operations become unknown.
    /// </summary>
    private static IReadOnlyList<Operation> ShortestFailingPrefix(IReadOnlyList<Operation> ops, long maxStates)
    {
        long[] cuts = [.. ops.Where(o => o.Outcome == Outcome.Ok).Select(o => o.CompleteUs + 1).Distinct().Order()];
        int low = 0, high = cuts.Length - 1;
        while (low < high)
        {
            int middle = (low + high) / 2;
            if (Search(CutAt(ops, cuts[middle]), maxStates).Result == SearchResult.NotLinearizable) high = middle;
            else low = middle + 1;
        }
        var prefix = CutAt(ops, cuts[high]);
        return Search(prefix, maxStates).Result == SearchResult.NotLinearizable ? prefix : ops;
    }

    private static List<Operation> CutAt(IReadOnlyList<Operation> ops, long cutUs) =>
        [.. ops.Where(o => o.InvokeUs < cutUs)
            .Where(o => !(o.CompleteUs >= cutUs && o.Kind == OpKind.Get))
            .Select(o => o.CompleteUs >= cutUs ? o with { Outcome = Outcome.Info, CompleteUs = long.MaxValue } : o)];

    private enum SearchResult
    {
        Linearizable,
        NotLinearizable,
        GaveUp,
    }

    private sealed class Entry
    {
        public required int Op;
        public required bool IsCall;
        public required long Time;
        public Entry? Match; // call -> its return
        public Entry? Previous;
        public Entry? Next;
    }

    private static (SearchResult Result, long Explored) Search(IReadOnlyList<Operation> ops, long maxStates)
    {
        if (ops.Count == 0) return (SearchResult.Linearizable, 0);
        // Events in time order; at equal times calls come first, so touching operations count as concurrent.
        var events = new List<Entry>(2 * ops.Count);
        for (int i = 0; i < ops.Count; i++)
        {
            var call = new Entry { Op = i, IsCall = true, Time = ops[i].InvokeUs };
            var ret = new Entry { Op = i, IsCall = false, Time = Math.Max(ops[i].CompleteUs, ops[i].InvokeUs) };
            call.Match = ret;
            events.Add(call);
            events.Add(ret);
        }
        events.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.IsCall == b.IsCall ? a.Op.CompareTo(b.Op) : a.IsCall ? -1 : 1);
        var head = new Entry { Op = -1, IsCall = false, Time = long.MinValue };
        Entry previous = head;
        foreach (Entry e in events)
        {
            previous.Next = e;
            e.Previous = previous;
            previous = e;
        }

        var random = new Random(12345);
        var zobristLow = new ulong[ops.Count];
        var zobristHigh = new ulong[ops.Count];
        for (int i = 0; i < ops.Count; i++)
        {
            zobristLow[i] = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 63);
            zobristHigh[i] = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 63);
        }
        var memo = new HashSet<(ulong, ulong, string?)>();
        var stack = new Stack<(Entry Call, string? PreviousState, int Tried)>();
        string? state = null;
        ulong hashLow = 0, hashHigh = 0;
        long explored = 0;
        Entry? entry = head.Next;
        int startAt = 0;
        while (head.Next is not null)
        {
            if (++explored > maxStates) return (SearchResult.GaveUp, explored);
            if (entry!.IsCall)
            {
                Operation op = ops[entry.Op];
                int k = 0;
                bool linearized = false;
                foreach (string? next in RegisterModel.Successors(state, op))
                {
                    if (k++ < startAt) continue;
                    ulong low = hashLow ^ zobristLow[entry.Op], high = hashHigh ^ zobristHigh[entry.Op];
                    if (!memo.Add((low, high, next))) continue;
                    stack.Push((entry, state, k - 1));
                    state = next;
                    hashLow = low;
                    hashHigh = high;
                    Lift(entry);
                    entry = head.Next;
                    linearized = true;
                    break;
                }
                startAt = 0;
                if (!linearized) entry = entry.Next;
            }
            else
            {
                // A return reached before its call was linearized: undo the last choice and try its next option.
                if (stack.Count == 0) return (SearchResult.NotLinearizable, explored);
                var (call, previousState, tried) = stack.Pop();
                state = previousState;
                hashLow ^= zobristLow[call.Op];
                hashHigh ^= zobristHigh[call.Op];
                Unlift(call);
                entry = call;
                startAt = tried + 1;
            }
        }
        return (SearchResult.Linearizable, explored);
    }

    private static void Lift(Entry call)
    {
        call.Previous!.Next = call.Next;
        call.Next!.Previous = call.Previous;
        Entry ret = call.Match!;
        ret.Previous!.Next = ret.Next;
        if (ret.Next is not null) ret.Next.Previous = ret.Previous;
    }

    private static void Unlift(Entry call)
    {
        Entry ret = call.Match!;
        ret.Previous!.Next = ret;
        if (ret.Next is not null) ret.Next.Previous = ret;
        call.Previous!.Next = call;
        call.Next!.Previous = call;
    }
}
