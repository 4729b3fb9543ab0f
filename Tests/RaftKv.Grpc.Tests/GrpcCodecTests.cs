using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using RaftKv.Grpc.Tests.Infrastructure;
using RaftKv.Grpc.Tests.Protos;

namespace RaftKv.Grpc.Tests;

/// <summary>The pure pieces: length-prefixed framing, grpc-timeout, grpc-message encoding.</summary>
public sealed class GrpcCodecTests
{
    private static async Task<PipeReader> ReaderOver(params byte[][] chunks)
    {
        var pipe = new Pipe();
        foreach (byte[] chunk in chunks)
        {
            await pipe.Writer.WriteAsync(chunk);
        }

        await pipe.Writer.CompleteAsync();
        return pipe.Reader;
    }

    [Fact]
    public async Task Framing_RoundTripsSeveralMessagesThenEndsCleanly()
    {
        var first = new EchoRequest { Message = "one", Payload = ByteString.CopyFrom(1, 2, 3) };
        var second = new EchoRequest { Message = "two" };
        var empty = new EchoRequest();
        PipeReader reader = await ReaderOver(Frames.Of(first), Frames.Of(second), Frames.Of(empty));

        Assert.Equal(first, await GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None));
        Assert.Equal(second, await GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None));
        Assert.Equal(empty, await GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None));
        Assert.Null(await GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None));
    }

    [Fact]
    public async Task Framing_ReassemblesAFrameSplitAcrossWrites()
    {
        var message = new EchoRequest { Message = "split", Payload = ByteString.CopyFrom(new byte[1000]) };
        byte[] frame = Frames.Of(message);
        var pipe = new Pipe();
        Task<EchoRequest?> read = GrpcFraming.ReadMessageAsync(pipe.Reader, EchoRequest.Parser, 4096, CancellationToken.None).AsTask();
        foreach (byte[] chunk in frame.Chunk(7))
        {
            await pipe.Writer.WriteAsync(chunk);
        }

        Assert.Equal(message, await read);
    }

    [Fact]
    public void Framing_HeaderIsFlagThenBigEndianLength()
    {
        byte[] frame = Frames.Of(new EchoRequest { Message = new string('x', 300) });
        Assert.Equal(0, frame[0]);
        Assert.Equal(frame.Length - 5, (frame[1] << 24) | (frame[2] << 16) | (frame[3] << 8) | frame[4]);
    }

    [Theory]
    [InlineData(3)] // inside the header
    [InlineData(8)] // inside the body
    public async Task Framing_TruncatedFrame_IsInternalWithClearMessage(int keptBytes)
    {
        byte[] frame = Frames.Of(new EchoRequest { Message = "truncated message body" });
        PipeReader reader = await ReaderOver(frame[..keptBytes]);

        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None).AsTask());
        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.Contains("Incomplete gRPC message", error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Framing_CompressedFlag_IsUnimplemented()
    {
        byte[] frame = Frames.Of(new EchoRequest { Message = "x" });
        frame[0] = 1;
        PipeReader reader = await ReaderOver(frame);

        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None).AsTask());
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task Framing_UnknownFlag_IsInternal()
    {
        byte[] frame = Frames.Of(new EchoRequest { Message = "x" });
        frame[0] = 7;
        PipeReader reader = await ReaderOver(frame);

        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None).AsTask());
        Assert.Equal(StatusCode.Internal, error.StatusCode);
    }

    [Fact]
    public async Task Framing_OversizedLength_IsResourceExhaustedFromTheHeaderAlone()
    {
        // Only the 5-byte header arrives and the writer stays open: the limit must be enforced
        // without waiting for (or buffering) the announced body.
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0, 0x10, 0, 0, 0 });

        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => GrpcFraming.ReadMessageAsync(pipe.Reader, EchoRequest.Parser, 1024, CancellationToken.None).AsTask());
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task Framing_GarbageBody_IsInternal()
    {
        // Field 1 declared as a 100-byte string, with 2 bytes present inside a well-formed frame.
        PipeReader reader = await ReaderOver([0, 0, 0, 0, 4, 0x0A, 100, 1, 2]);

        RpcException error = await Assert.ThrowsAsync<RpcException>(
            () => GrpcFraming.ReadMessageAsync(reader, EchoRequest.Parser, 1024, CancellationToken.None).AsTask());
        Assert.Equal(StatusCode.Internal, error.StatusCode);
    }

    [Fact]
    public void Framing_WriteOversized_IsResourceExhaustedAndWritesNothing()
    {
        var buffer = new ArrayBufferWriter<byte>();
        RpcException error = Assert.Throws<RpcException>(
            () => GrpcFraming.WriteMessage(buffer, new EchoRequest { Payload = ByteString.CopyFrom(new byte[2000]) }, 1024));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal(0, buffer.WrittenCount);
    }

    [Theory]
    [InlineData("2H", 2 * TimeSpan.TicksPerHour)]
    [InlineData("3M", 3 * TimeSpan.TicksPerMinute)]
    [InlineData("4S", 4 * TimeSpan.TicksPerSecond)]
    [InlineData("5m", 5 * TimeSpan.TicksPerMillisecond)]
    [InlineData("6u", 6 * TimeSpan.TicksPerMicrosecond)]
    [InlineData("700n", 7)]
    [InlineData("1n", 1)] // rounded up to one tick, never to zero
    [InlineData("99999999H", 99_999_999 * TimeSpan.TicksPerHour)]
    public void GrpcTimeout_ParsesEveryUnit(string header, long expectedTicks)
    {
        Assert.True(GrpcTimeout.TryParse(header, out TimeSpan timeout));
        Assert.Equal(expectedTicks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("10s")]
    [InlineData("-1S")]
    [InlineData("123456789S")] // nine digits
    [InlineData("1 S")]
    public void GrpcTimeout_RejectsMalformedValues(string header)
        => Assert.False(GrpcTimeout.TryParse(header, out _));

    [Theory]
    [InlineData(1L)]
    [InlineData(999L)]
    [InlineData(TimeSpan.TicksPerMillisecond * 250)]
    [InlineData(TimeSpan.TicksPerSecond * 30 + 1)]
    [InlineData(TimeSpan.TicksPerDay * 400)]
    public void GrpcTimeout_FormatFitsEightDigitsAndNeverShortens(long ticks)
    {
        string header = GrpcTimeout.Format(TimeSpan.FromTicks(ticks));
        Assert.InRange(header.Length, 2, 9);
        Assert.True(GrpcTimeout.TryParse(header, out TimeSpan parsed));
        Assert.True(parsed.Ticks >= ticks, $"{header} parsed to {parsed.Ticks} ticks, less than {ticks}.");
    }

    [Theory]
    [InlineData("plain ascii stays as is")]
    [InlineData("100% sure")]
    [InlineData("line\nbreak\ttab")]
    [InlineData("clé introuvable ✓ 鍵 🚀")]
    [InlineData("")]
    public void GrpcMessage_EncodingRoundTripsAndIsPrintableAscii(string message)
    {
        string encoded = GrpcStatusMessage.Encode(message);
        Assert.All(encoded, c => Assert.InRange(c, (char)0x20, (char)0x7E));
        Assert.Equal(message, GrpcStatusMessage.Decode(encoded));
    }

    [Fact]
    public void GrpcMessage_EncodesPercentAndUtf8Bytes()
        => Assert.Equal("a%25b %C3%A9", GrpcStatusMessage.Encode("a%b é"));

    [Theory]
    [InlineData("50%", "50%")]
    [InlineData("%zz ok", "%zz ok")]
    [InlineData("%4", "%4")]
    [InlineData("%41%42", "AB")]
    public void GrpcMessage_DecodingIsLenient(string encoded, string expected)
        => Assert.Equal(expected, GrpcStatusMessage.Decode(encoded));

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/GRPC; charset=utf-8", true)]
    [InlineData("application/grpc+json", false)]
    [InlineData("application/json", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void ContentType_AcceptsGrpcAndGrpcProtoOnly(string? contentType, bool expected)
        => Assert.Equal(expected, GrpcProtocol.IsGrpcContentType(contentType));
}
