namespace RaftKv.Chaos.Checkers;

/// <summary>What one node reported after the faults stopped: its applied index and a digest of its applied state.</summary>
public sealed record NodeState(ulong NodeId, ulong CommitIndex, ulong AppliedIndex, string? StateDigest);

/// <summary>After faults stop and writes quiesce, every node must reach the same applied index and the same state.</summary>
public static class ConvergenceChecker
{
    public sealed record Verdict(bool Converged, string Reason);

    public static Verdict Check(IReadOnlyList<NodeState?> nodes)
    {
        if (nodes.Count == 0) return new Verdict(false, "no nodes");
        if (nodes.Any(n => n is null)) return new Verdict(false, "a node did not answer");
        var first = nodes[0]!;
        var applied = nodes.Select(n => n!.AppliedIndex).Distinct().ToList();
        if (applied.Count != 1) return new Verdict(false, "applied indices differ: " + Describe(nodes));
        var digests = nodes.Select(n => n!.StateDigest).Distinct().ToList();
        if (digests.Count != 1 || digests[0] is null) return new Verdict(false, "state digests differ: " + Describe(nodes));
        return new Verdict(true, $"all {nodes.Count} nodes at applied index {first.AppliedIndex}, state {first.StateDigest}");
    }

    public static string Describe(IReadOnlyList<NodeState?> nodes) =>
        string.Join(", ", nodes.Select(n => n is null ? "?" : $"n{n.NodeId}: commit {n.CommitIndex} applied {n.AppliedIndex} state {n.StateDigest ?? "?"}"));
}
