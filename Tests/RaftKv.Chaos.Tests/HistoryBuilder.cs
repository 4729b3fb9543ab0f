using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Tests;

/// <summary>Writes histories by hand: times in milliseconds, one line per operation.</summary>
internal sealed class HistoryBuilder
{
    private readonly List<Operation> _ops = [];

    public IReadOnlyList<Operation> Operations => _ops;

    private HistoryBuilder Add(int process, OpKind kind, long fromMs, long toMs, Outcome outcome, string? value = null, string? expected = null,
        bool succeeded = false, string? current = null, string key = "k")
    {
        _ops.Add(new Operation
        {
            Id = _ops.Count + 1, Process = process, Key = key, Kind = kind, Value = value, Expected = expected,
            InvokeUs = fromMs * 1000, CompleteUs = toMs * 1000, Outcome = outcome, Succeeded = succeeded, Current = current,
        });
        return this;
    }

    public HistoryBuilder Put(int process, long fromMs, long toMs, string value, Outcome outcome = Outcome.Ok, string key = "k") =>
        Add(process, OpKind.Put, fromMs, toMs, outcome, value, key: key);

    public HistoryBuilder Get(int process, long fromMs, long toMs, string? value, Outcome outcome = Outcome.Ok, string key = "k") =>
        Add(process, OpKind.Get, fromMs, toMs, outcome, value, key: key);

    public HistoryBuilder Delete(int process, long fromMs, long toMs, bool existed, Outcome outcome = Outcome.Ok, string key = "k") =>
        Add(process, OpKind.Delete, fromMs, toMs, outcome, succeeded: existed, key: key);

    public HistoryBuilder Cas(int process, long fromMs, long toMs, string? expected, string value, bool succeeded, string? current = null,
        Outcome outcome = Outcome.Ok, string key = "k") =>
        Add(process, OpKind.Cas, fromMs, toMs, outcome, value, expected, succeeded, current, key);
}
