using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Google.Protobuf;

namespace RaftKv.Grpc.Client;

/// <summary>The request side of a client-streaming or duplex call.</summary>
public interface IClientStreamWriter<in T> : IGrpcStreamWriter<T>
{
    /// <summary>
    /// Signals that no more requests will be sent (HTTP/2 END_STREAM). Idempotent. If the
    /// server has already ended the call, this does nothing: the outcome is on the response side.
    /// </summary>
    Task CompleteAsync(CancellationToken cancellationToken = default);
}

/// <summary>A call with streamed requests and one response. Dispose it to cancel it if unfinished.</summary>
public sealed class ClientStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly GrpcCall<TRequest, TResponse> _call;
    private readonly Lazy<Task<TResponse>> _response;

    internal ClientStreamingCall(GrpcCall<TRequest, TResponse> call)
    {
        _call = call;
        RequestStream = new ClientStreamWriter<TRequest, TResponse>(call);
        _response = new Lazy<Task<TResponse>>(call.ReadSingleAsync);
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    /// <summary>The single response; fails with <see cref="RpcException"/> for a non-OK status.</summary>
    public Task<TResponse> ResponseAsync => _response.Value;

    public void Dispose() => _call.Dispose();
}

/// <summary>A call where requests and responses flow independently. Dispose it to cancel it if unfinished.</summary>
public sealed class DuplexStreamingCall<TRequest, TResponse> : IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly GrpcCall<TRequest, TResponse> _call;

    internal DuplexStreamingCall(GrpcCall<TRequest, TResponse> call)
    {
        _call = call;
        RequestStream = new ClientStreamWriter<TRequest, TResponse>(call);
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    /// <summary>
    /// The responses, ending when the server ends the call with OK; a non-OK status is thrown
    /// as <see cref="RpcException"/>. Enumerate once. Cancelling <paramref name="cancellationToken"/>
    /// cancels the whole call.
    /// </summary>
    public async IAsyncEnumerable<TResponse> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using CancellationTokenRegistration registration = cancellationToken.Register(static state => ((GrpcCall<TRequest, TResponse>)state!).Cancel(), _call);
        while (await _call.ReadNextAsync().ConfigureAwait(false) is { } response)
        {
            yield return response;
        }
    }

    public void Dispose() => _call.Dispose();
}

internal sealed class ClientStreamWriter<TRequest, TResponse> : IClientStreamWriter<TRequest>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly GrpcCall<TRequest, TResponse> _call;
    private PipeWriter? _writer;
    private int _writePending;
    private bool _completed;

    public ClientStreamWriter(GrpcCall<TRequest, TResponse> call)
    {
        _call = call;
    }

    public async Task WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_completed)
        {
            throw new InvalidOperationException("The request stream has already been completed.");
        }

        if (Interlocked.Exchange(ref _writePending, 1) != 0)
        {
            throw new InvalidOperationException("Only one write can be pending at a time.");
        }

        try
        {
            PipeWriter writer = await GetWriterAsync(cancellationToken).ConfigureAwait(false);
            // Size is checked before any byte is buffered, so an oversized message leaves the stream intact.
            GrpcFraming.WriteMessage(writer, message, _call.Channel.Options.MaxSendMessageSizeBytes);
            CancellationToken token = LinkedToken(cancellationToken, out CancellationTokenSource? linked);
            using (linked)
            {
                await writer.FlushAsync(token).ConfigureAwait(false);
            }
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.ResourceExhausted)
        {
            // Raised by the framing size check before anything was buffered; the call goes on.
            throw;
        }
        catch (Exception exception)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                // A cancelled write leaves a half-sent frame behind, so the whole call is cancelled.
                _call.Cancel();
            }

            throw _call.ToRpcException(exception);
        }
        finally
        {
            Volatile.Write(ref _writePending, 0);
        }
    }

    public async Task CompleteAsync(CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        try
        {
            if (_writer is not null)
            {
                await _writer.CompleteAsync().ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The server ended the call already; the response side reports how it ended.
        }

        _call.StreamingContent!.Complete();
    }

    private async ValueTask<PipeWriter> GetWriterAsync(CancellationToken cancellationToken)
    {
        if (_writer is null)
        {
            CancellationToken token = LinkedToken(cancellationToken, out CancellationTokenSource? linked);
            Stream stream;
            using (linked)
            {
                stream = await _call.RequestStreamTask.WaitAsync(token).ConfigureAwait(false);
            }

            _writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        }

        return _writer;
    }

    private CancellationToken LinkedToken(CancellationToken cancellationToken, out CancellationTokenSource? linked)
    {
        linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _call.CallToken) : null;
        return linked?.Token ?? _call.CallToken;
    }
}
