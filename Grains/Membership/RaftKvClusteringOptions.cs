namespace RaftKv.Grains.Membership;

/// <summary>
/// Options of the Raft-backed Orleans membership table (<see cref="RaftKvMembershipTable"/>) and gateway list
/// provider (<see cref="RaftKvGatewayListProvider"/>). The table is an ordinary RaftKv client of the cluster's own
/// store: it needs the client gateway addresses of the RaftKv members, and follows the Raft leader among them.
/// </summary>
public sealed class RaftKvClusteringOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "RaftKv:Clustering";

    /// <summary>RaftKv client gateway addresses ("http://host:port"); any subset that includes one live member works.</summary>
    public IList<string> Endpoints { get; set; } = [];

    /// <summary>Deadline of one attempt of a table read or write; a dead leader is left after this at worst.</summary>
    public int AttemptTimeoutMs { get; set; } = 2_000;

    /// <summary>Attempts of one table read or write (retryable failures only: no leader, unreachable, deadline).</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>Longest backoff between attempts.</summary>
    public int MaxBackoffMs { get; set; } = 500;

    /// <summary>
    /// How many times one table write re-reads the table after losing a compare-and-swap to a concurrent write that
    /// did not touch what it checks (another silo's IAmAlive, say), before it gives up with an exception. A writer
    /// that loses always learns the winner's revision one round trip late, so under writers that never pause (the
    /// contention test runs three heartbeat loops flat out) 32 attempts were lost in a row about one run in three.
    /// </summary>
    public int MaxContendedWriteAttempts { get; set; } = 256;

    /// <summary>
    /// How long a silo's start waits for the store to answer (a cold start of the whole cluster needs a Raft
    /// election first) before it fails.
    /// </summary>
    public int InitializeTimeoutMs { get; set; } = 120_000;

    /// <summary>
    /// Adds what the table's RaftKv client needs beyond addresses and retries: TLS trust, a client certificate or a
    /// bearer token when the cluster's gateways ask for them (set in code by the host; not bound from configuration).
    /// </summary>
    public Action<RaftKv.Client.RaftKvClientOptions>? ConfigureClient { get; set; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Endpoints is null || Endpoints.Count == 0) errors.Add($"{SectionName}:Endpoints needs at least one RaftKv client gateway address.");
        else
        {
            foreach (string endpoint in Endpoints)
            {
                if (!Uri.TryCreate(endpoint, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                {
                    errors.Add($"{SectionName}:Endpoints: '{endpoint}' is not an absolute http:// or https:// address.");
                }
            }
        }
        if (AttemptTimeoutMs < 1) errors.Add($"{SectionName}:AttemptTimeoutMs must be positive.");
        if (MaxAttempts < 1) errors.Add($"{SectionName}:MaxAttempts must be at least 1.");
        if (MaxBackoffMs < 0) errors.Add($"{SectionName}:MaxBackoffMs must not be negative.");
        if (InitializeTimeoutMs < 0) errors.Add($"{SectionName}:InitializeTimeoutMs must not be negative.");
        if (MaxContendedWriteAttempts < 1) errors.Add($"{SectionName}:MaxContendedWriteAttempts must be at least 1.");
        return errors;
    }
}
