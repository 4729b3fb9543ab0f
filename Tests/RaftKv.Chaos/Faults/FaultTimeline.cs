using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Faults;

public enum FaultPhase
{
    Start,
    Heal,
    Note,
}

public sealed record FaultEvent(long TimeUs, FaultPhase Phase, string Kind, string Detail)
{
    public override string ToString() => $"[{TimeUs / 1000.0,10:F1} ms] {Phase,-5} {Kind,-14} {Detail}";
}

/// <summary>The fault timeline, on the history's clock so faults and operations line up.</summary>
public sealed class FaultTimeline(HistoryRecorder clock)
{
    private readonly List<FaultEvent> _events = [];

    public void Add(FaultPhase phase, string kind, string detail)
    {
        lock (_events) _events.Add(new FaultEvent(clock.NowUs(), phase, kind, detail));
    }

    public IReadOnlyList<FaultEvent> Events
    {
        get { lock (_events) return [.. _events]; }
    }
}
