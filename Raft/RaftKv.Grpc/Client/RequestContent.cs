using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace RaftKv.Grpc.Client;

/// <summary>The body of a call with exactly one request message.</summary>
internal sealed class SingleMessageContent : HttpContent
{
    private readonly IMessage _message;
    private readonly int _maxMessageSizeBytes;
    private readonly int _messageSizeBytes;

    public SingleMessageContent(IMessage message, int maxMessageSizeBytes)
    {
        _message = message;
        _maxMessageSizeBytes = maxMessageSizeBytes;
        _messageSizeBytes = message.CalculateSize();
        if (_messageSizeBytes > maxMessageSizeBytes)
        {
            // Fail before anything is sent, with the same status the framing layer uses.
            throw new RpcException(
                StatusCode.ResourceExhausted,
                $"Sending message exceeds the maximum configured message size ({_messageSizeBytes} > {maxMessageSizeBytes} bytes).");
        }

        Headers.ContentType = new MediaTypeHeaderValue(GrpcProtocol.ContentType);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        PipeWriter writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        GrpcFraming.WriteMessage(writer, _message, _maxMessageSizeBytes);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync().ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = GrpcFraming.HeaderSizeBytes + _messageSizeBytes;
        return true;
    }
}

/// <summary>
/// A request body written message by message while the response is being read (client and
/// duplex streaming). The HTTP handler calls <see cref="SerializeToStreamAsync(Stream, TransportContext?, CancellationToken)"/>
/// once the request headers are sent; that call hands the stream to the writer and then stays
/// pending until the writer completes, because returning from it ends the request (END_STREAM).
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamingRequestContent()
    {
        Headers.ContentType = new MediaTypeHeaderValue(GrpcProtocol.ContentType);
    }

    /// <summary>Completes with the request stream, or faults if the call fails before sending a body.</summary>
    public Task<Stream> StreamTask => _stream.Task;

    /// <summary>Ends the request body; the handler then sends END_STREAM.</summary>
    public void Complete() => _complete.TrySetResult();

    /// <summary>Abandons the request body, e.g. when the call fails or is disposed.</summary>
    public void Abort(Exception exception)
    {
        _stream.TrySetException(exception);
        _complete.TrySetException(exception);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        _stream.TrySetResult(stream);
        await _complete.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}
