using System.Globalization;

namespace RaftKv.Grpc;

/// <summary>
/// The <c>grpc-timeout</c> header: at most 8 ASCII digits followed by a unit,
/// H (hours), M (minutes), S (seconds), m (milliseconds), u (microseconds) or n (nanoseconds).
/// </summary>
public static class GrpcTimeout
{
    private const long MaxValue = 99_999_999;

    public static bool TryParse(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (string.IsNullOrEmpty(value) || value.Length < 2 || value.Length > 9)
        {
            return false;
        }

        ReadOnlySpan<char> digits = value.AsSpan(0, value.Length - 1);
        foreach (char c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        long amount = long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        long ticks = value[^1] switch
        {
            'H' => amount * TimeSpan.TicksPerHour,
            'M' => amount * TimeSpan.TicksPerMinute,
            'S' => amount * TimeSpan.TicksPerSecond,
            'm' => amount * TimeSpan.TicksPerMillisecond,
            'u' => amount * TimeSpan.TicksPerMicrosecond,
            // One tick is 100 ns; round up so a tiny positive timeout never becomes "no time at all".
            'n' => (amount + 99) / 100,
            _ => -1,
        };
        if (ticks < 0)
        {
            return false;
        }

        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>
    /// Formats a positive timeout in the finest unit whose value fits in 8 digits,
    /// rounding up so the server never sees a shorter deadline than the client's.
    /// </summary>
    public static string Format(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return "1n";
        }

        long ticks = timeout.Ticks;
        if (ticks <= MaxValue / 100)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{ticks * 100}n");
        }

        ReadOnlySpan<(long TicksPerUnit, char Unit)> units =
        [
            (TimeSpan.TicksPerMicrosecond, 'u'),
            (TimeSpan.TicksPerMillisecond, 'm'),
            (TimeSpan.TicksPerSecond, 'S'),
            (TimeSpan.TicksPerMinute, 'M'),
            (TimeSpan.TicksPerHour, 'H'),
        ];
        foreach ((long ticksPerUnit, char unit) in units)
        {
            long amount = (ticks + ticksPerUnit - 1) / ticksPerUnit;
            if (amount <= MaxValue)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{amount}{unit}");
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{MaxValue}H");
    }
}
