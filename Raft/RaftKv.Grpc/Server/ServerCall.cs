using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;

namespace RaftKv.Grpc.Server;

/// <summary>The untyped per-call state the pipeline hands to a typed handler runner.</summary>
internal sealed class ServerCallState(HttpContext httpContext, ServerCallContext context, GrpcServerOptions options)
{
    public HttpContext HttpContext { get; } = httpContext;

    public ServerCallContext Context { get; } = context;

    public GrpcServerOptions Options { get; } = options;

    /// <summary>
    /// True once a response message has been buffered, even if not yet flushed; from then on
    /// the status must go in trailers, never in a trailers-only response.
    /// </summary>
    public bool MessageWritten { get; set; }
}

/// <summary>
/// Reads typed requests from the HTTP/2 request body and writes typed responses to the
/// response body, one runner per method kind. Status and trailers are the pipeline's job
/// (<see cref="GrpcServerCallHandler"/>), not this type's.
/// </summary>
internal sealed class ServerCall<TRequest, TResponse> : IGrpcStreamWriter<TResponse>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ServerCallState _state;
    private readonly GrpcMethod<TRequest, TResponse> _method;
    private int _writePending;

    public ServerCall(ServerCallState state, GrpcMethod<TRequest, TResponse> method)
    {
        _state = state;
        _method = method;
    }

    private PipeReader RequestBody => _state.HttpContext.Request.BodyReader;

    private PipeWriter ResponseBody => _state.HttpContext.Response.BodyWriter;

    private CancellationToken CallToken => _state.Context.CancellationToken;

    public async Task RunUnaryAsync(UnaryServerMethod<TRequest, TResponse> handler)
    {
        TRequest request = await ReadSingleRequestAsync().ConfigureAwait(false);
        TResponse response = await handler(request, _state.Context).ConfigureAwait(false);
        WriteResponse(response);
    }

    public async Task RunServerStreamingAsync(ServerStreamingServerMethod<TRequest, TResponse> handler)
    {
        TRequest request = await ReadSingleRequestAsync().ConfigureAwait(false);
        await handler(request, this, _state.Context).ConfigureAwait(false);
    }

    public async Task RunClientStreamingAsync(ClientStreamingServerMethod<TRequest, TResponse> handler)
    {
        TResponse response = await handler(ReadAllRequestsAsync(), _state.Context).ConfigureAwait(false);
        WriteResponse(response);
    }

    public Task RunDuplexStreamingAsync(DuplexStreamingServerMethod<TRequest, TResponse> handler)
        => handler(ReadAllRequestsAsync(), this, _state.Context);

    public async Task WriteAsync(TResponse message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Interlocked.Exchange(ref _writePending, 1) != 0)
        {
            throw new InvalidOperationException("Only one write can be pending at a time.");
        }

        try
        {
            WriteResponse(message);
            using CancellationTokenSource? linked = cancellationToken.CanBeCanceled
                ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, CallToken)
                : null;
            FlushResult result = await ResponseBody.FlushAsync(linked?.Token ?? CallToken).ConfigureAwait(false);
            if (result.IsCanceled || result.IsCompleted)
            {
                throw new RpcException(StatusCode.Cancelled, "The call ended before the response message could be sent.");
            }
        }
        finally
        {
            Volatile.Write(ref _writePending, 0);
        }
    }

    private void WriteResponse(TResponse message)
    {
        ArgumentNullException.ThrowIfNull(message);
        GrpcFraming.WriteMessage(ResponseBody, message, _state.Options.MaxSendMessageSizeBytes);
        _state.MessageWritten = true;
    }

    private async Task<TRequest> ReadSingleRequestAsync()
    {
        TRequest? request = await ReadRequestAsync(CallToken).ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, $"{_method.FullName} expects exactly one request message; the request had none.");
        if (await ReadRequestAsync(CallToken).ConfigureAwait(false) is not null)
        {
            throw new RpcException(StatusCode.Internal, $"{_method.FullName} expects exactly one request message; the request had more.");
        }

        return request;
    }

    private async IAsyncEnumerable<TRequest> ReadAllRequestsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using CancellationTokenSource? linked = cancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, CallToken)
            : null;
        CancellationToken token = linked?.Token ?? CallToken;
        while (await ReadRequestAsync(token).ConfigureAwait(false) is { } request)
        {
            yield return request;
        }
    }

    private ValueTask<TRequest?> ReadRequestAsync(CancellationToken cancellationToken)
        => GrpcFraming.ReadMessageAsync(RequestBody, _method.RequestParser, _state.Options.MaxReceiveMessageSizeBytes, cancellationToken);
}
