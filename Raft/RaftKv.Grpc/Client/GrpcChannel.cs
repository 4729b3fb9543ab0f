using System.Net.Http;
using System.Runtime.CompilerServices;
using Google.Protobuf;

namespace RaftKv.Grpc.Client;

/// <summary>
/// A client connection to one gRPC server address. Owns an HTTP/2 connection pool shared by
/// all calls; create one per server and reuse it. Thread-safe.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    internal const string UserAgent = "raftkv-grpc-dotnet/1.0";

    private readonly HttpMessageHandler? _ownedHandler;

    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        Address = address;
        Options = options;
        HttpMessageHandler handler;
        if (options.HttpHandler is { } supplied)
        {
            handler = supplied;
        }
        else
        {
            _ownedHandler = handler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = options.EnableMultipleHttp2Connections,
                KeepAlivePingDelay = options.KeepAlivePingDelay,
                KeepAlivePingTimeout = options.KeepAlivePingTimeout,
                // Pinging idle connections gets clients disconnected by servers enforcing
                // gRPC's ping policy; ping only while calls are in flight.
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            };
        }

        // Deadlines are per call; the client-wide timeout would cut long streams.
        HttpClient = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The server address, "http://host:port" for h2c or "https://host:port" for TLS.</summary>
    public Uri Address { get; }

    public GrpcChannelOptions Options { get; }

    internal HttpClient HttpClient { get; }

    public static GrpcChannel ForAddress(Uri address, GrpcChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!address.IsAbsoluteUri || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"The address must be an absolute http:// or https:// URI, was '{address}'.", nameof(address));
        }

        options ??= new GrpcChannelOptions();
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid {nameof(GrpcChannelOptions)}: {string.Join(" ", errors)}", nameof(options));
        }

        return new GrpcChannel(address, options);
    }

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null)
        => ForAddress(new Uri(address, UriKind.Absolute), options);

    /// <summary>Sends one request and waits for one response.</summary>
    /// <exception cref="RpcException">The call ended with a non-OK status.</exception>
    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method,
        TRequest request,
        CallOptions? options = null,
        CancellationToken cancellationToken = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ThrowIfWrongType(method, MethodType.Unary);
        ArgumentNullException.ThrowIfNull(request);
        using var call = new GrpcCall<TRequest, TResponse>(this, method, new SingleMessageContent(request, Options.MaxSendMessageSizeBytes), options, cancellationToken);
        return await call.ReadSingleAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Sends one request and streams the responses. The call starts when enumeration starts
    /// and is cancelled if enumeration stops early.
    /// </summary>
    public IAsyncEnumerable<TResponse> ServerStreamingAsync<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method,
        TRequest request,
        CallOptions? options = null,
        CancellationToken cancellationToken = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ThrowIfWrongType(method, MethodType.ServerStreaming);
        ArgumentNullException.ThrowIfNull(request);
        var content = new SingleMessageContent(request, Options.MaxSendMessageSizeBytes);
        return ReadServerStreamAsync(method, content, options, cancellationToken);
    }

    /// <summary>Starts a call whose requests are streamed and whose single response is <see cref="ClientStreamingCall{TRequest, TResponse}.ResponseAsync"/>.</summary>
    public ClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method,
        CallOptions? options = null,
        CancellationToken cancellationToken = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ThrowIfWrongType(method, MethodType.ClientStreaming);
        return new ClientStreamingCall<TRequest, TResponse>(
            new GrpcCall<TRequest, TResponse>(this, method, new StreamingRequestContent(), options, cancellationToken));
    }

    /// <summary>Starts a call where requests and responses flow independently.</summary>
    public DuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method,
        CallOptions? options = null,
        CancellationToken cancellationToken = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ThrowIfWrongType(method, MethodType.DuplexStreaming);
        return new DuplexStreamingCall<TRequest, TResponse>(
            new GrpcCall<TRequest, TResponse>(this, method, new StreamingRequestContent(), options, cancellationToken));
    }

    public void Dispose()
    {
        HttpClient.Dispose();
        _ownedHandler?.Dispose();
    }

    private async IAsyncEnumerable<TResponse> ReadServerStreamAsync<TRequest, TResponse>(
        GrpcMethod<TRequest, TResponse> method,
        SingleMessageContent content,
        CallOptions? options,
        CancellationToken cancellationToken,
        [EnumeratorCancellation] CancellationToken enumeratorCancellationToken = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        using var call = new GrpcCall<TRequest, TResponse>(this, method, content, options, cancellationToken);
        using CancellationTokenRegistration registration = enumeratorCancellationToken.Register(static state => ((GrpcCall<TRequest, TResponse>)state!).Cancel(), call);
        while (await call.ReadNextAsync().ConfigureAwait(false) is { } response)
        {
            yield return response;
        }
    }

    private static void ThrowIfWrongType<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, MethodType expected)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Type != expected)
        {
            throw new ArgumentException($"{method.FullName} is a {method.Type} method, not {expected}.", nameof(method));
        }
    }
}
