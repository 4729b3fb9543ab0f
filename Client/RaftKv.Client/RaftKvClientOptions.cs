namespace RaftKv.Client;

/// <summary>Options of <see cref="RaftKvClient"/>. Call <see cref="Validate"/> (the client does) before use.</summary>
public sealed class RaftKvClientOptions
{
    /// <summary>Gateway addresses to start from ("http://host:port"); the leader is discovered through Status.</summary>
    public IList<string> Endpoints { get; set; } = [];

    /// <summary>Attempts per request, first included, before the last retryable error is surfaced.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Deadline of one attempt.</summary>
    public int AttemptTimeoutMs { get; set; } = 5_000;

    /// <summary>Backoff before the second attempt; doubles per attempt up to <see cref="MaxBackoffMs"/>.</summary>
    public int InitialBackoffMs { get; set; } = 50;

    /// <summary>One attempt of a membership call (which waits for its change to commit, or a transfer to finish) is bounded by this.</summary>
    public int AdminAttemptTimeoutMs { get; set; } = 30_000;

    public int MaxBackoffMs { get; set; } = 1_000;

    /// <summary>
    /// An HTTP handler shared by many clients (each client is one session with one request in flight), so that they
    /// multiplex over a few HTTP/2 connections instead of opening one each. Not disposed by the client.
    /// </summary>
    public HttpMessageHandler? SharedHttpHandler { get; set; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Endpoints is null || Endpoints.Count == 0) errors.Add("At least one endpoint is required.");
        else
        {
            foreach (string endpoint in Endpoints)
            {
                if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                {
                    errors.Add($"Endpoint '{endpoint}' is not an absolute http:// or https:// address.");
                }
            }
        }
        if (MaxAttempts < 1) errors.Add("MaxAttempts must be at least 1.");
        if (AttemptTimeoutMs < 1) errors.Add("AttemptTimeoutMs must be positive.");
        if (AdminAttemptTimeoutMs < 1) errors.Add("AdminAttemptTimeoutMs must be positive.");
        if (InitialBackoffMs < 0) errors.Add("InitialBackoffMs must not be negative.");
        if (MaxBackoffMs < InitialBackoffMs) errors.Add("MaxBackoffMs must be at least InitialBackoffMs.");
        return errors;
    }
}
