namespace RaftKv.ClientGateway;

/// <summary>Options of the client gateway. Immutable; call <see cref="Validate"/> before use.</summary>
public sealed record KvGatewayOptions
{
    /// <summary>
    /// When this node is not the leader, forward the request to the leader's gateway (true), or answer UNAVAILABLE
    /// with a leader hint (false). A client can ask for the hint per request with the "raftkv-no-forward: 1" header.
    /// </summary>
    public bool ForwardToLeader { get; init; } = true;

    /// <summary>A gateway session (the per-client-session request gate) unused this long is dropped.</summary>
    public long SessionIdleEvictionMs { get; init; } = 5 * 60_000;

    /// <summary>Scan limit used when the request asks for 0.</summary>
    public int DefaultScanLimit { get; init; } = 100;

    /// <summary>Largest scan limit honoured; larger requests are capped.</summary>
    public int MaxScanLimit { get; init; } = 10_000;

    /// <summary>A membership change or leadership transfer whose caller set no deadline gives up after this long.</summary>
    public int AdminTimeoutMs { get; init; } = 30_000;

    /// <summary>
    /// Makes the HTTP handler of a channel to another node's gateway (forwarded requests): with TLS on, one that
    /// presents this node's certificate and trusts only the cluster CA. Null: the default handler.
    /// </summary>
    public Func<HttpMessageHandler>? ForwardingHttpHandlerFactory { get; init; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (AdminTimeoutMs < 1) errors.Add("AdminTimeoutMs must be positive.");
        if (SessionIdleEvictionMs < 1) errors.Add("SessionIdleEvictionMs must be positive.");
        if (DefaultScanLimit < 1) errors.Add("DefaultScanLimit must be at least 1.");
        if (MaxScanLimit < DefaultScanLimit) errors.Add("MaxScanLimit must be at least DefaultScanLimit.");
        return errors;
    }
}
