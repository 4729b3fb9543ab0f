using System.Diagnostics;

namespace RaftKv.Chaos.History;

/// <summary>
/// Records operations as invoke/complete pairs on ONE monotonic clock (<see cref="Stopwatch"/>), shared by every
/// client and by the fault timeline, so that "completed before invoked" comparisons across clients are meaningful.
/// Thread-safe.
/// </summary>
public sealed class HistoryRecorder
{
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly List<Operation> _operations = [];
    private int _nextId;

    /// <summary>Microseconds since the recorder was created, monotonic.</summary>
    public long NowUs() => (long)Stopwatch.GetElapsedTime(_startTimestamp).TotalMicroseconds;

    /// <summary>Starts an operation now; complete the returned pending operation exactly once.</summary>
    public PendingOperation Invoke(int process, OpKind kind, string key, string? value = null, string? expected = null) =>
        new(this, Interlocked.Increment(ref _nextId), process, kind, key, value, expected, NowUs());

    internal void Add(Operation operation)
    {
        lock (_operations) _operations.Add(operation);
    }

    /// <summary>Everything completed so far, ordered by invocation.</summary>
    public IReadOnlyList<Operation> Snapshot()
    {
        lock (_operations) return [.. _operations.OrderBy(o => o.InvokeUs).ThenBy(o => o.Id)];
    }
}

/// <summary>An invoked operation waiting for its outcome.</summary>
public sealed class PendingOperation
{
    private readonly HistoryRecorder _recorder;
    private readonly Operation _invoked;
    private int _completed;

    internal PendingOperation(HistoryRecorder recorder, int id, int process, OpKind kind, string key, string? value, string? expected, long invokeUs)
    {
        _recorder = recorder;
        _invoked = new Operation
        {
            Id = id, Process = process, Kind = kind, Key = key, Value = value, Expected = expected,
            InvokeUs = invokeUs, CompleteUs = invokeUs, Outcome = Outcome.Info,
        };
    }

    public Operation Ok(string? readValue = null, bool succeeded = false, string? current = null, string? note = null) =>
        Complete(_invoked with
        {
            Outcome = Outcome.Ok,
            Value = _invoked.Kind == OpKind.Get ? readValue : _invoked.Value,
            Succeeded = succeeded,
            Current = current,
            Note = note,
        });

    /// <summary>Known not to have taken effect.</summary>
    public Operation Fail(string reason) => Complete(_invoked with { Outcome = Outcome.Fail, Note = reason });

    /// <summary>Outcome unknown: may have taken effect.</summary>
    public Operation Info(string reason) => Complete(_invoked with { Outcome = Outcome.Info, Note = reason });

    private Operation Complete(Operation operation)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0) throw new InvalidOperationException($"operation {operation.Id} completed twice");
        operation = operation with { CompleteUs = _recorder.NowUs() };
        _recorder.Add(operation);
        return operation;
    }
}
