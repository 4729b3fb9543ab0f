namespace RaftKv.Raft;

/// <summary>Thrown when the core detects a broken invariant. The node must stop: its state can no longer be trusted.</summary>
public sealed class RaftInvariantException(string message) : Exception(message);

/// <summary>
/// Invariant checks that run in every build. <c>Debug.Assert</c> vanishes in Release, and a Raft node that
/// keeps running with a broken invariant can acknowledge data it will later lose.
/// </summary>
public static class Invariant
{
    public static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new RaftInvariantException(message);
        }
    }
}
