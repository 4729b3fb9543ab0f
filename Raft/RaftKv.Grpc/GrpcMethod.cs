using Google.Protobuf;

namespace RaftKv.Grpc;

public enum MethodType
{
    Unary,
    ServerStreaming,
    ClientStreaming,
    DuplexStreaming,
}

/// <summary>
/// Describes one RPC: its kind, its full path "/package.Service/Method" and the parsers for
/// both directions. The same descriptor registers a server handler and makes client calls,
/// so the two sides cannot disagree about a path or a message type.
/// </summary>
public sealed class GrpcMethod<TRequest, TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public GrpcMethod(
        MethodType type,
        string serviceName,
        string methodName,
        MessageParser<TRequest> requestParser,
        MessageParser<TResponse> responseParser)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        ArgumentException.ThrowIfNullOrWhiteSpace(methodName);
        ArgumentNullException.ThrowIfNull(requestParser);
        ArgumentNullException.ThrowIfNull(responseParser);
        if (serviceName.Contains('/', StringComparison.Ordinal) || methodName.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException("Service and method names must not contain '/'.");
        }

        Type = type;
        ServiceName = serviceName;
        MethodName = methodName;
        FullName = $"/{serviceName}/{methodName}";
        RequestParser = requestParser;
        ResponseParser = responseParser;
    }

    public MethodType Type { get; }

    /// <summary>The fully qualified service name, "package.Service".</summary>
    public string ServiceName { get; }

    public string MethodName { get; }

    /// <summary>The HTTP/2 :path of the call, "/package.Service/Method".</summary>
    public string FullName { get; }

    public MessageParser<TRequest> RequestParser { get; }

    public MessageParser<TResponse> ResponseParser { get; }

    public override string ToString() => FullName;
}

/// <summary>Writes messages to a stream of a call (server responses or client requests).</summary>
public interface IGrpcStreamWriter<in T>
{
    /// <summary>
    /// Sends one message and flushes it. Only one write may be pending at a time, as in every
    /// gRPC implementation; await each write before starting the next.
    /// </summary>
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}
