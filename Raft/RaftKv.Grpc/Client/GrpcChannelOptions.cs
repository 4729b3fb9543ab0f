namespace RaftKv.Grpc.Client;

/// <summary>Settings shared by every call on a <see cref="GrpcChannel"/>. Immutable; check with <see cref="Validate"/>.</summary>
public sealed record GrpcChannelOptions
{
    /// <summary>Largest response message accepted; larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSizeBytes { get; init; } = GrpcProtocol.DefaultMaxMessageSizeBytes;

    /// <summary>Largest request message sent; larger ones fail with RESOURCE_EXHAUSTED before anything is sent.</summary>
    public int MaxSendMessageSizeBytes { get; init; } = GrpcProtocol.DefaultMaxMessageSizeBytes;

    /// <summary>Idle time on a connection with active calls before an HTTP/2 PING checks it is alive.</summary>
    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long to wait for the PING's acknowledgement before the connection is dropped.</summary>
    public TimeSpan KeepAlivePingTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Open extra HTTP/2 connections when the server's concurrent-stream limit is reached,
    /// instead of queueing calls behind it. Long-lived streams make this worth having.
    /// </summary>
    public bool EnableMultipleHttp2Connections { get; init; } = true;

    /// <summary>
    /// A handler to use instead of the channel's own <see cref="System.Net.Http.SocketsHttpHandler"/>
    /// (TLS settings, test transports). The channel does not dispose a handler it did not create.
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; init; }

    /// <summary>Clock used to turn deadlines into <c>grpc-timeout</c> values and local timers.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxReceiveMessageSizeBytes <= 0)
        {
            errors.Add($"{nameof(MaxReceiveMessageSizeBytes)} must be positive, was {MaxReceiveMessageSizeBytes}.");
        }

        if (MaxSendMessageSizeBytes <= 0)
        {
            errors.Add($"{nameof(MaxSendMessageSizeBytes)} must be positive, was {MaxSendMessageSizeBytes}.");
        }

        if (KeepAlivePingDelay <= TimeSpan.Zero && KeepAlivePingDelay != Timeout.InfiniteTimeSpan)
        {
            errors.Add($"{nameof(KeepAlivePingDelay)} must be positive or infinite, was {KeepAlivePingDelay}.");
        }

        if (KeepAlivePingTimeout <= TimeSpan.Zero && KeepAlivePingTimeout != Timeout.InfiniteTimeSpan)
        {
            errors.Add($"{nameof(KeepAlivePingTimeout)} must be positive or infinite, was {KeepAlivePingTimeout}.");
        }

        if (TimeProvider is null)
        {
            errors.Add($"{nameof(TimeProvider)} is required.");
        }

        return errors;
    }
}

/// <summary>Per-call settings.</summary>
public sealed record CallOptions
{
    /// <summary>
    /// When the call must be finished. Sent to the server as <c>grpc-timeout</c> and enforced
    /// locally: when it passes the call fails with DEADLINE_EXCEEDED.
    /// </summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Extra request headers (gRPC metadata). Names must be lower-case; "grpc-" names are reserved.</summary>
    public IReadOnlyList<KeyValuePair<string, string>>? Headers { get; init; }
}
