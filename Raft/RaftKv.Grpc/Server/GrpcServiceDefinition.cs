using Google.Protobuf;

namespace RaftKv.Grpc.Server;

public delegate Task<TResponse> UnaryServerMethod<TRequest, TResponse>(TRequest request, ServerCallContext context);

public delegate Task ServerStreamingServerMethod<TRequest, TResponse>(
    TRequest request, IGrpcStreamWriter<TResponse> responseStream, ServerCallContext context);

public delegate Task<TResponse> ClientStreamingServerMethod<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requestStream, ServerCallContext context);

public delegate Task DuplexStreamingServerMethod<TRequest, TResponse>(
    IAsyncEnumerable<TRequest> requestStream, IGrpcStreamWriter<TResponse> responseStream, ServerCallContext context);

/// <summary>
/// The methods one server exposes, keyed by full path "/package.Service/Method". Build it,
/// then map it with <see cref="GrpcEndpointRouteBuilderExtensions.MapGrpcService"/>.
/// A path may be registered once; the kind of handler must match the method's kind.
/// </summary>
public sealed class GrpcServiceDefinition
{
    private readonly Dictionary<string, ServerMethod> _methods = new(StringComparer.Ordinal);

    /// <summary>Registered methods in registration order is not promised; do not rely on order.</summary>
    internal IEnumerable<ServerMethod> Methods => _methods.Values;

    public GrpcServiceDefinition AddUnary<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.Unary, handler, static (call, h) => call.RunUnaryAsync(h));

    public GrpcServiceDefinition AddServerStreaming<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.ServerStreaming, handler, static (call, h) => call.RunServerStreamingAsync(h));

    public GrpcServiceDefinition AddClientStreaming<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.ClientStreaming, handler, static (call, h) => call.RunClientStreamingAsync(h));

    public GrpcServiceDefinition AddDuplexStreaming<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(method, MethodType.DuplexStreaming, handler, static (call, h) => call.RunDuplexStreamingAsync(h));

    private GrpcServiceDefinition Add<TRequest, TResponse, THandler>(
        GrpcMethod<TRequest, TResponse> method,
        MethodType expectedType,
        THandler handler,
        Func<ServerCall<TRequest, TResponse>, THandler, Task> run)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        where THandler : Delegate
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(handler);
        if (method.Type != expectedType)
        {
            throw new ArgumentException($"{method.FullName} is a {method.Type} method; it cannot take a {expectedType} handler.", nameof(method));
        }

        if (!_methods.TryAdd(method.FullName, new ServerMethod(method.FullName, call => run(new ServerCall<TRequest, TResponse>(call, method), handler))))
        {
            throw new ArgumentException($"{method.FullName} is already registered.", nameof(method));
        }

        return this;
    }
}

/// <summary>A registered path and the type-erased entry point that runs its handler.</summary>
internal sealed record ServerMethod(string FullName, Func<ServerCallState, Task> InvokeAsync);
