namespace RaftKv.Chaos.Faults;

/// <summary>
/// One planned fault: its kind, how long it lasts, the quiet time after it heals, and a seed for its own choices
/// (which node, which split, which clock offset), so the plan is a pure function of the run's seed.
/// </summary>
public sealed record PlannedFault(int Index, FaultKind Kind, int DurationMs, int QuietMs, int ChoiceSeed);

/// <summary>The seeded fault schedule: kinds drawn uniformly from the enabled set, in a sequence that never ends.</summary>
public sealed class FaultSchedule(int seed, IReadOnlyList<FaultKind> kinds, int minDurationMs = 1_000, int maxDurationMs = 5_000,
    int minQuietMs = 1_000, int maxQuietMs = 3_000)
{
    public IReadOnlyList<FaultKind> Kinds => kinds;

    public IEnumerable<PlannedFault> Plan()
    {
        if (kinds.Count == 0) yield break;
        var random = new Random(seed);
        // Every kind comes once before any repeats (shuffled rounds), so short runs still cover every kind.
        for (int index = 0; ; )
        {
            foreach (FaultKind kind in kinds.OrderBy(_ => random.Next()).ToList())
            {
                yield return new PlannedFault(index++, kind, random.Next(minDurationMs, maxDurationMs + 1), random.Next(minQuietMs, maxQuietMs + 1), random.Next());
            }
        }
    }
}
