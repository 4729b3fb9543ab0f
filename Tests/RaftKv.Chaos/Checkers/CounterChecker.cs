using System.Globalization;
using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Checkers;

/// <summary>
/// Exactly-once for increments by compare-and-swap with session retries: the counter's final value must lie between
/// the number of acknowledged increments and that number plus the increments whose outcome is unknown. A retried CAS
/// that the session table failed to deduplicate would be applied twice and answered "failed" on its second
/// application, so the final value would exceed the range.
/// </summary>
public static class CounterChecker
{
    public sealed record Verdict(string Key, int Acknowledged, int Unknown, long? Final, bool Valid, string Reason);

    public static Verdict Check(IReadOnlyList<Operation> history, string key, long? finalValue)
    {
        var increments = history.Where(o => o.Key == key && o.Kind == OpKind.Cas).ToList();
        int acknowledged = increments.Count(o => o.Outcome == Outcome.Ok && o.Succeeded);
        int unknown = increments.Count(o => o.Outcome == Outcome.Info);
        if (finalValue is null) return new Verdict(key, acknowledged, unknown, null, false, "the final value could not be read");
        bool valid = finalValue >= acknowledged && finalValue <= acknowledged + unknown;
        string reason = valid
            ? $"final {finalValue} within [{acknowledged}, {acknowledged + unknown}]"
            : $"final {finalValue} outside [{acknowledged}, {acknowledged + unknown}] (acknowledged {acknowledged}, unknown {unknown})";
        return new Verdict(key, acknowledged, unknown, finalValue, valid, reason);
    }

    public static long? Parse(string? value) =>
        value is null ? 0 : long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;
}
