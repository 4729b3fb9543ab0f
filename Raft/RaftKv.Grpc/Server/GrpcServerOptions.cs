namespace RaftKv.Grpc.Server;

/// <summary>Limits and clock for the gRPC server side. Immutable; check with <see cref="Validate"/>.</summary>
public sealed record GrpcServerOptions
{
    /// <summary>Largest request message accepted; larger ones end the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSizeBytes { get; init; } = GrpcProtocol.DefaultMaxMessageSizeBytes;

    /// <summary>Largest response message a handler may send; larger ones end the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSizeBytes { get; init; } = GrpcProtocol.DefaultMaxMessageSizeBytes;

    /// <summary>Clock for <c>grpc-timeout</c> deadlines; tests may substitute a fake.</summary>
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

        if (TimeProvider is null)
        {
            errors.Add($"{nameof(TimeProvider)} is required.");
        }

        return errors;
    }
}
