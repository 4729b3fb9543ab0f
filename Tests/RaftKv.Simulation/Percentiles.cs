namespace RaftKv.Simulation;

/// <summary>Nearest-rank percentiles, shared by the simulator's statistics and the benchmarks.</summary>
public static class Percentiles
{
    /// <summary>The value at percentile <paramref name="p"/> (0..1) of <paramref name="values"/>; NaN when there are none.</summary>
    public static double NearestRank(IEnumerable<double> values, double p)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
