using System.Diagnostics;

namespace RaftKv.Chaos.Runner;

/// <summary>
/// "clock-probe": prints the clocks .NET reads (wall clock, Environment.TickCount64, Stopwatch), to show whether a
/// libfaketime preload reaches them. Run it once plainly and once under LD_PRELOAD with FAKETIME set and compare.
/// </summary>
public static class ClockProbe
{
    public static int Run()
    {
        Console.WriteLine($"DateTime.UtcNow={DateTime.UtcNow:O}");
        Console.WriteLine($"DateTimeOffset.UtcNow.ToUnixTimeSeconds={DateTimeOffset.UtcNow.ToUnixTimeSeconds()}");
        Console.WriteLine($"Environment.TickCount64.Seconds={Environment.TickCount64 / 1000}");
        Console.WriteLine($"Stopwatch.Seconds={Stopwatch.GetTimestamp() / Stopwatch.Frequency}");
        return 0;
    }
}
