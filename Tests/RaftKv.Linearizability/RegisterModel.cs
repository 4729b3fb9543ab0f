namespace RaftKv.Linearizability;

/// <summary>
/// The sequential specification of one key: a register holding a value or nothing, with put, get, delete and
/// compare-and-swap on the value. An operation with an unknown outcome (info) may have had no effect, or its effect.
/// </summary>
public static class RegisterModel
{
    /// <summary>
    /// The states the register may be in after <paramref name="op"/> runs in <paramref name="state"/> (null: absent),
    /// given what the client observed; empty when the observation is impossible in that state.
    /// </summary>
    public static IEnumerable<string?> Successors(string? state, Operation op)
    {
        if (op.Outcome == Outcome.Info)
        {
            yield return state; // it never took effect
            switch (op.Kind)
            {
                case OpKind.Put when op.Value != state:
                    yield return op.Value;
                    break;
                case OpKind.Delete when state is not null:
                    yield return null;
                    break;
                case OpKind.Cas when state == op.Expected && op.Value != state:
                    yield return op.Value;
                    break;
            }
            yield break;
        }
        switch (op.Kind)
        {
            case OpKind.Put:
                yield return op.Value;
                break;
            case OpKind.Get:
                if (state == op.Value) yield return state;
                break;
            case OpKind.Delete:
                if (op.Succeeded == (state is not null)) yield return null;
                break;
            case OpKind.Cas:
                if (op.Succeeded && state == op.Expected) yield return op.Value;
                else if (!op.Succeeded && state != op.Expected && state == op.Current) yield return state;
                break;
        }
    }
}
