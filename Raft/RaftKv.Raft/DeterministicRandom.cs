namespace RaftKv.Raft;

/// <summary>
/// SplitMix64: a tiny, seedable, platform-independent PRNG. The core takes its randomness (election timeouts)
/// only from here so that a seed replays a whole cluster exactly.
/// </summary>
public sealed class DeterministicRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A value in [minInclusive, maxExclusive).</summary>
    public int Next(int minInclusive, int maxExclusive)
    {
        Invariant.Check(minInclusive < maxExclusive, "empty random range");
        return minInclusive + (int)(NextUInt64() % (ulong)(maxExclusive - minInclusive));
    }

    /// <summary>A value in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public bool Chance(double probability) => NextDouble() < probability;
}
