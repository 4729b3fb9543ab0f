using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Google.Protobuf;

namespace RaftKv.Grpc;

/// <summary>
/// The gRPC length-prefixed message: a 1-byte compressed flag, a 4-byte big-endian length,
/// then the protobuf bytes. Both sides use these two functions, so the size limit and the
/// error statuses are the same for client and server.
/// </summary>
public static class GrpcFraming
{
    public const int HeaderSizeBytes = 5;

    /// <summary>
    /// Serializes <paramref name="message"/> straight into <paramref name="output"/> (no
    /// intermediate array). The caller flushes.
    /// </summary>
    /// <exception cref="RpcException">RESOURCE_EXHAUSTED when the message exceeds the limit.</exception>
    public static void WriteMessage(IBufferWriter<byte> output, IMessage message, int maxMessageSizeBytes)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(message);
        int size = message.CalculateSize();
        ThrowIfTooLarge(size, maxMessageSizeBytes, "Sending");

        Span<byte> frame = output.GetSpan(HeaderSizeBytes + size)[..(HeaderSizeBytes + size)];
        frame[0] = 0; // Not compressed: only identity encoding is implemented.
        BinaryPrimitives.WriteUInt32BigEndian(frame.Slice(1, 4), (uint)size);
        message.WriteTo(frame[HeaderSizeBytes..]);
        output.Advance(HeaderSizeBytes + size);
    }

    /// <summary>
    /// Reads the next message, or returns null when the stream ends cleanly between frames.
    /// </summary>
    /// <exception cref="RpcException">
    /// INTERNAL for a truncated frame, an unknown flag or bytes that do not parse;
    /// UNIMPLEMENTED for a compressed frame; RESOURCE_EXHAUSTED for a message over the limit
    /// (detected from the header, before the body is buffered).
    /// </exception>
    public static async ValueTask<T?> ReadMessageAsync<T>(
        PipeReader input,
        MessageParser<T> parser,
        int maxMessageSizeBytes,
        CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(parser);
        while (true)
        {
            ReadResult result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            SequencePosition consumed = buffer.Start;
            bool gotMessage = false;
            try
            {
                if (TryReadFrame(buffer, parser, maxMessageSizeBytes, out T? message, out consumed))
                {
                    gotMessage = true;
                    return message;
                }

                if (result.IsCompleted)
                {
                    if (buffer.IsEmpty)
                    {
                        return null;
                    }

                    throw new RpcException(StatusCode.Internal, IncompleteFrameDetail(buffer));
                }

                if (result.IsCanceled)
                {
                    throw new OperationCanceledException("The message read was cancelled.");
                }
            }
            finally
            {
                // After a message, only what it used is consumed and examined: frames already buffered behind it must
                // be readable at once, not after more bytes arrive. Without a whole frame, everything was examined, so
                // the next ReadAsync waits for more bytes instead of spinning.
                if (gotMessage) input.AdvanceTo(consumed);
                else input.AdvanceTo(consumed, buffer.End);
            }
        }
    }

    private static bool TryReadFrame<T>(
        ReadOnlySequence<byte> buffer,
        MessageParser<T> parser,
        int maxMessageSizeBytes,
        out T? message,
        out SequencePosition consumed)
        where T : class, IMessage<T>
    {
        message = null;
        consumed = buffer.Start;
        if (buffer.Length < HeaderSizeBytes)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSizeBytes];
        buffer.Slice(0, HeaderSizeBytes).CopyTo(header);
        switch (header[0])
        {
            case 0:
                break;
            case 1:
                throw new RpcException(StatusCode.Unimplemented, "Compressed gRPC messages are not supported; only identity encoding is implemented.");
            default:
                throw new RpcException(StatusCode.Internal, $"Invalid gRPC frame: compressed flag is {header[0]}, expected 0 or 1.");
        }

        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        ThrowIfTooLarge(length, maxMessageSizeBytes, "Received");
        long frameLength = HeaderSizeBytes + (long)length;
        if (buffer.Length < frameLength)
        {
            return false;
        }

        try
        {
            message = parser.ParseFrom(buffer.Slice(HeaderSizeBytes, length));
        }
        catch (InvalidProtocolBufferException exception)
        {
            throw new RpcException(StatusCode.Internal, $"Failed to deserialize {typeof(T).Name}: {exception.Message}", exception);
        }

        consumed = buffer.GetPosition(frameLength);
        return true;
    }

    private static string IncompleteFrameDetail(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < HeaderSizeBytes)
        {
            return $"Incomplete gRPC message: the stream ended inside a frame header ({buffer.Length} of {HeaderSizeBytes} bytes).";
        }

        Span<byte> header = stackalloc byte[HeaderSizeBytes];
        buffer.Slice(0, HeaderSizeBytes).CopyTo(header);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        return $"Incomplete gRPC message: the stream ended after {buffer.Length - HeaderSizeBytes} of {length} body bytes.";
    }

    private static void ThrowIfTooLarge(long size, int maxMessageSizeBytes, string direction)
    {
        if (size > maxMessageSizeBytes)
        {
            throw new RpcException(
                StatusCode.ResourceExhausted,
                $"{direction} message exceeds the maximum configured message size ({size} > {maxMessageSizeBytes} bytes).");
        }
    }
}
