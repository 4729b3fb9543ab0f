namespace RaftKv.Linearizability;

/// <summary>What a client asked for. Register operations act on one key; <see cref="Increment"/> is a CAS on the counter key.</summary>
public enum OpKind
{
    Put,
    Get,
    Delete,

    /// <summary>Compare-and-swap on the value: <see cref="Operation.Expected"/> (null: the key is absent) to <see cref="Operation.Value"/>.</summary>
    Cas,
}

/// <summary>
/// How an operation ended, in Jepsen's vocabulary. <see cref="Info"/> is an unknown outcome: a timeout, a lost
/// connection, or any error that could have come after the command was proposed. It may have taken effect, once, at
/// any moment after its invocation. <see cref="Fail"/> is only for outcomes known to have had no effect.
/// </summary>
public enum Outcome
{
    Ok,
    Fail,
    Info,
}

/// <summary>
/// One completed operation of the history: invocation and completion on the recorder's single monotonic clock
/// (microseconds since the run started). Values are unique per write, so every observed value names its writer.
/// </summary>
public sealed record Operation
{
    public required int Id { get; init; }

    /// <summary>The logical client (one session, one operation at a time).</summary>
    public required int Process { get; init; }

    public required string Key { get; init; }

    public required OpKind Kind { get; init; }

    /// <summary>Put/Cas: the value written. Get: the value read (null: absent).</summary>
    public string? Value { get; init; }

    /// <summary>Cas: the expected current value (null: expected absent).</summary>
    public string? Expected { get; init; }

    public required long InvokeUs { get; init; }

    public required long CompleteUs { get; init; }

    public required Outcome Outcome { get; init; }

    /// <summary>Cas: whether it swapped. Delete: whether the key existed. Only meaningful when <see cref="Outcome"/> is Ok.</summary>
    public bool Succeeded { get; init; }

    /// <summary>Cas that did not swap: the current value the server reported (null: absent).</summary>
    public string? Current { get; init; }

    /// <summary>The server's node that answered, or the error for Fail/Info.</summary>
    public string? Note { get; init; }

    public bool IsWrite => Kind != OpKind.Get;

    public override string ToString()
    {
        string what = Kind switch
        {
            OpKind.Put => $"put {Key}={Value}",
            OpKind.Get => Outcome == Outcome.Ok ? $"get {Key} -> {Value ?? "absent"}" : $"get {Key}",
            OpKind.Delete => Outcome == Outcome.Ok ? $"delete {Key} -> {(Succeeded ? "deleted" : "absent")}" : $"delete {Key}",
            OpKind.Cas => $"cas {Key} {Expected ?? "absent"}->{Value}" + (Outcome == Outcome.Ok ? Succeeded ? " -> swapped" : $" -> failed (current {Current ?? "absent"})" : ""),
            _ => Kind.ToString(),
        };
        string note = Note is null ? "" : $"  ({Note})";
        string complete = CompleteUs == long.MaxValue ? "open-ended" : $"{CompleteUs / 1000.0,10:F1} ms";
        return $"#{Id,-6} p{Process,-3} [{InvokeUs / 1000.0,10:F1} ms .. {complete}] {Outcome,-4} {what}{note}";
    }
}
