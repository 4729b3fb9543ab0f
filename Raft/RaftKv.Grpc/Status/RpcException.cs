namespace RaftKv.Grpc;

/// <summary>
/// A call that ended with a non-OK gRPC status. Thrown by client calls when the server
/// (or the transport) reports a failure; thrown by server handlers to end a call with a
/// chosen status and message, which then reach the client unchanged.
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException(StatusCode statusCode, string detail)
        : this(statusCode, detail, innerException: null)
    {
    }

    public RpcException(StatusCode statusCode, string detail, Exception? innerException)
        : base($"Status(StatusCode=\"{statusCode}\", Detail=\"{detail}\")", innerException)
    {
        ArgumentNullException.ThrowIfNull(detail);
        StatusCode = statusCode;
        Detail = detail;
    }

    public StatusCode StatusCode { get; }

    /// <summary>The human-readable status message (the decoded <c>grpc-message</c>).</summary>
    public string Detail { get; }
}
