using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace RaftKv.Grpc.Client;

/// <summary>
/// One call on the wire: sends the HTTP/2 request, reads response frames, and turns whatever
/// ends the call (trailers, HTTP status, transport failure, deadline, cancellation) into
/// exactly one outcome: messages followed by OK, or an <see cref="RpcException"/>.
/// </summary>
internal sealed class GrpcCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    // Timers accept at most uint.MaxValue - 1 ms; a later deadline is only sent, not timed locally.
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly GrpcChannel _channel;
    private readonly GrpcMethod<TRequest, TResponse> _method;
    private readonly CancellationToken _userToken;
    private readonly CancellationTokenSource? _deadlineSource;
    private readonly CancellationTokenSource _callSource;
    private readonly Task<HttpResponseMessage> _responseTask;
    private readonly StreamingRequestContent? _streamingContent;
    private HttpResponseMessage? _response;
    private PipeReader? _reader;
    private bool _finished;
    private volatile bool _cancelledLocally;
    private volatile bool _disposed;

    public GrpcCall(GrpcChannel channel, GrpcMethod<TRequest, TResponse> method, HttpContent content, CallOptions? options, CancellationToken cancellationToken)
    {
        _channel = channel;
        _method = method;
        _userToken = cancellationToken;
        _streamingContent = content as StreamingRequestContent;

        TimeSpan? timeout = options?.Deadline is { } deadline ? deadline - channel.Options.TimeProvider.GetUtcNow() : null;
        if (timeout is { } remaining && remaining <= TimeSpan.Zero)
        {
            // Already past the deadline: the send below observes a cancelled token and the call
            // fails with DEADLINE_EXCEEDED without reaching the network.
            _deadlineSource = new CancellationTokenSource();
            _deadlineSource.Cancel();
        }
        else if (timeout is { } pending && pending <= MaxTimerDelay)
        {
            _deadlineSource = new CancellationTokenSource(pending, channel.Options.TimeProvider);
        }

        _callSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _deadlineSource?.Token ?? CancellationToken.None);

        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(channel.Address, method.FullName))
        {
            Version = HttpVersion.Version20,
            // gRPC is HTTP/2 only; for http:// this means h2c with prior knowledge.
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        request.Headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcProtocol.IdentityEncoding);
        request.Headers.TryAddWithoutValidation("user-agent", GrpcChannel.UserAgent);
        if (timeout is { } sent)
        {
            request.Headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(sent));
        }

        if (options?.Headers is { } headers)
        {
            foreach ((string name, string value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        _responseTask = SendAsync(request);
    }

    /// <summary>The request body writer's stream; only for streaming requests.</summary>
    public Task<Stream> RequestStreamTask => _streamingContent?.StreamTask ?? throw new InvalidOperationException("The call has no request stream.");

    public StreamingRequestContent? StreamingContent => _streamingContent;

    public CancellationToken CallToken => _callSource.Token;

    public GrpcChannel Channel => _channel;

    /// <summary>Reads the next response message; null once the call ended with OK.</summary>
    public async ValueTask<TResponse?> ReadNextAsync()
    {
        if (_finished)
        {
            return null;
        }

        try
        {
            if (_reader is null)
            {
                _response = await _responseTask.ConfigureAwait(false);
                if (CheckResponseHeaders(_response))
                {
                    _finished = true;
                    return null;
                }

                Stream body = await _response.Content.ReadAsStreamAsync(CallToken).ConfigureAwait(false);
                _reader = PipeReader.Create(body);
            }

            TResponse? message = await GrpcFraming.ReadMessageAsync(
                _reader, _method.ResponseParser, _channel.Options.MaxReceiveMessageSizeBytes, CallToken).ConfigureAwait(false);
            if (message is not null)
            {
                return message;
            }

            // Trailers are available once the body has been read to its end.
            ThrowIfNotOk(_response!.TrailingHeaders, "trailers");
            _finished = true;
            await _reader.CompleteAsync().ConfigureAwait(false);
            _streamingContent?.Complete();
            return null;
        }
        catch (Exception exception)
        {
            RpcException failure = ToRpcException(exception);
            _finished = true;
            // Reset the HTTP/2 stream so the server stops work on a call we have given up on.
            TryCancelTransport();
            _streamingContent?.Abort(failure);
            throw failure;
        }
    }

    /// <summary>Reads the single response of a unary or client-streaming call.</summary>
    public async Task<TResponse> ReadSingleAsync()
    {
        TResponse response = await ReadNextAsync().ConfigureAwait(false)
            ?? throw new RpcException(StatusCode.Internal, $"{_method.FullName} ended with OK but sent no response message.");
        if (await ReadNextAsync().ConfigureAwait(false) is not null)
        {
            throw new RpcException(StatusCode.Internal, $"{_method.FullName} sent more than one response message.");
        }

        return response;
    }

    public void Cancel()
    {
        _cancelledLocally = true;
        TryCancelTransport();
    }

    /// <summary>
    /// The status for a failure seen anywhere in the call. Local causes (deadline, cancellation,
    /// disposal) win over what the transport reported, because they caused it.
    /// </summary>
    public RpcException ToRpcException(Exception exception)
    {
        if (_deadlineSource?.IsCancellationRequested == true)
        {
            return new RpcException(StatusCode.DeadlineExceeded, "Deadline exceeded.", exception);
        }

        if (_userToken.IsCancellationRequested || _cancelledLocally || _disposed)
        {
            return new RpcException(StatusCode.Cancelled, "Call cancelled by the client.", exception);
        }

        return GrpcStatusMapping.FromTransportException(exception);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        if (!_finished)
        {
            TryCancelTransport();
        }

        _disposed = true;

        _streamingContent?.Abort(new RpcException(StatusCode.Cancelled, "The call was disposed."));
        _response?.Dispose();
        if (_responseTask.IsCompletedSuccessfully)
        {
            _responseTask.Result.Dispose();
        }

        _callSource.Dispose();
        _deadlineSource?.Dispose();
    }

    private void TryCancelTransport()
    {
        if (!_disposed)
        {
            try
            {
                _callSource.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Disposed concurrently: the transport is being torn down anyway.
            }
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        try
        {
            return await _channel.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, CallToken).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // A streaming writer may be waiting for a body stream that will never come.
            _streamingContent?.Abort(ToRpcException(exception));
            throw;
        }
    }

    /// <summary>Validates response headers; returns true when they carried the final status (trailers-only).</summary>
    private static bool CheckResponseHeaders(HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new RpcException(
                GrpcStatusMapping.FromHttpStatus(response.StatusCode),
                $"Bad gRPC response. HTTP status code: {(int)response.StatusCode} ({response.ReasonPhrase}).");
        }

        if (response.Headers.Contains(GrpcProtocol.StatusHeader))
        {
            ThrowIfNotOk(response.Headers, "headers");
            return true;
        }

        string? contentType = response.Content.Headers.ContentType?.ToString();
        if (!GrpcProtocol.IsGrpcContentType(contentType))
        {
            throw new RpcException(StatusCode.Internal, $"Bad gRPC response. Invalid content-type '{contentType}'.");
        }

        return false;
    }

    private static void ThrowIfNotOk(HttpHeaders headers, string where)
    {
        if (!headers.TryGetValues(GrpcProtocol.StatusHeader, out IEnumerable<string>? statusValues))
        {
            throw new RpcException(StatusCode.Internal, $"The response ended without a {GrpcProtocol.StatusHeader} in its {where}.");
        }

        string statusText = statusValues.First();
        if (!int.TryParse(statusText, NumberStyles.None, CultureInfo.InvariantCulture, out int statusValue))
        {
            throw new RpcException(StatusCode.Unknown, $"Invalid {GrpcProtocol.StatusHeader} '{statusText}'.");
        }

        if (statusValue == (int)StatusCode.OK)
        {
            return;
        }

        string? detail = headers.TryGetValues(GrpcProtocol.MessageHeader, out IEnumerable<string>? messageValues) ? messageValues.First() : null;
        throw new RpcException((StatusCode)statusValue, GrpcStatusMessage.Decode(detail));
    }
}
