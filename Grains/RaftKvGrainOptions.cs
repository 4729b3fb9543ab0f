namespace RaftKv.Grains;

/// <summary>
/// Options of RaftKv's grains and grain service, bound from "RaftKv:Grains". Immutable after binding;
/// <see cref="Validate"/> runs at start.
/// </summary>
public sealed record RaftKvGrainOptions
{
    public const string SectionName = "RaftKv:Grains";

    /// <summary>How long a grain keeps retrying a request towards the leader (leader changes, unreachable silos) before it fails as unavailable.</summary>
    public int LeaderRetryTimeoutMs { get; init; } = 10_000;

    /// <summary>Pause between attempts when no leader is known; doubled per attempt up to <see cref="MaxRetryBackoffMs"/>.</summary>
    public int RetryBackoffMs { get; init; } = 20;

    public int MaxRetryBackoffMs { get; init; } = 250;

    /// <summary>How long the grain service waits for the node to commit a proposal or confirm a read index.</summary>
    public int NodeCallTimeoutMs { get; init; } = 5_000;

    /// <summary>How long the grain service waits for a membership change to commit or a leadership transfer to finish.</summary>
    public int AdminCallTimeoutMs { get; init; } = 30_000;

    /// <summary>A pooled session of the KV grains idle longer than this is not reused (sessions expire after the state machine's session timeout, 60 s by default).</summary>
    public int SessionPoolIdleMs { get; init; } = 30_000;

    public int MaxScanLimit { get; init; } = 10_000;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (LeaderRetryTimeoutMs < 1) errors.Add("RaftKv:Grains:LeaderRetryTimeoutMs must be positive.");
        if (RetryBackoffMs < 1) errors.Add("RaftKv:Grains:RetryBackoffMs must be positive.");
        if (MaxRetryBackoffMs < RetryBackoffMs) errors.Add("RaftKv:Grains:MaxRetryBackoffMs must be at least RetryBackoffMs.");
        if (NodeCallTimeoutMs < 1) errors.Add("RaftKv:Grains:NodeCallTimeoutMs must be positive.");
        if (AdminCallTimeoutMs < 1) errors.Add("RaftKv:Grains:AdminCallTimeoutMs must be positive.");
        if (SessionPoolIdleMs < 1) errors.Add("RaftKv:Grains:SessionPoolIdleMs must be positive.");
        if (MaxScanLimit < 1) errors.Add("RaftKv:Grains:MaxScanLimit must be positive.");
        return errors;
    }
}
