using System.Runtime.InteropServices;
using Google.Protobuf;
using RaftKv.Raft;
using RaftKv.Storage.Snapshots;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh.Tests;

public sealed class RaftMessageCodecTests
{
    private static readonly SnapshotMetadata Snapshot = new(40, 7, new ClusterConfiguration([1, 2, 3], [9]));

    public static TheoryData<MessageType> AllTypes()
    {
        var data = new TheoryData<MessageType>();
        foreach (MessageType type in Enum.GetValues<MessageType>())
        {
            data.Add(type);
        }
        return data;
    }

    /// <summary>Every field set to a distinct value that needs a multi-byte varint, for every message type.</summary>
    private static Message FullMessage(MessageType type) => new()
    {
        Type = type,
        From = 1,
        To = ulong.MaxValue,
        Term = 1UL << 40,
        LogIndex = 1000,
        LogTerm = 999,
        Entries =
        [
            LogEntry.Command(1001, 999, new byte[] { 1, 2, 3 }),
            new LogEntry(1002, 999, EntryType.NoOp, ReadOnlyMemory<byte>.Empty),
            new LogEntry(1003, 1000, EntryType.Configuration, new ClusterConfiguration([1, 2], [3]).Encode()),
            LogEntry.Command(1004, 1000, Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray()),
        ],
        Commit = 998,
        Reject = true,
        ConflictTerm = 5,
        ConflictIndex = 500,
        ReadRound = 77,
        ReadRequestId = ulong.MaxValue - 1,
        Snapshot = Snapshot,
        LeadershipTransfer = true,
    };

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void EveryFieldOfEveryMessageTypeSurvivesTheWire(MessageType type)
    {
        Message original = FullMessage(type);

        Message decoded = RoundTrip(original);

        AssertSameMessage(original, decoded);
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void DefaultFieldsStayDefault(MessageType type)
    {
        Message original = new()
        {
            Type = type,
            From = 2,
            To = 3,
            Term = 0,
            Snapshot = type == MessageType.InstallSnapshot ? Snapshot : null,
        };

        Message decoded = RoundTrip(original);

        AssertSameMessage(original, decoded);
        Assert.Empty(decoded.Entries);
        Assert.Equal(type == MessageType.InstallSnapshot, decoded.Snapshot is not null);
    }

    [Fact]
    public void OutgoingEntryDataIsWrappedNotCopied()
    {
        byte[] data = [5, 6, 7];
        Message message = FullMessage(MessageType.AppendEntries) with { Entries = [LogEntry.Command(1, 1, data)] };

        Wire.RaftMessage proto = RaftMessageCodec.ToProto(message);

        Assert.True(MemoryMarshal.TryGetArray(proto.Entries[0].Data.Memory, out ArraySegment<byte> segment));
        Assert.Same(data, segment.Array);
    }

    [Fact]
    public void IncomingEntryDataAliasesTheParsedBytes()
    {
        Wire.RaftMessage proto = Wire.RaftMessage.Parser.ParseFrom(RaftMessageCodec.ToProto(FullMessage(MessageType.AppendEntries)).ToByteArray());

        Message decoded = RaftMessageCodec.FromProto(proto);

        Assert.True(MemoryMarshal.TryGetArray(proto.Entries[3].Data.Memory, out ArraySegment<byte> parsed));
        Assert.True(MemoryMarshal.TryGetArray(decoded.Entries[3].Data, out ArraySegment<byte> aliased));
        Assert.Same(parsed.Array, aliased.Array);
    }

    [Fact]
    public void UnknownMessageTypesAreRejected()
    {
        Wire.RaftMessage unspecified = RaftMessageCodec.ToProto(FullMessage(MessageType.Heartbeat));
        unspecified.Type = Wire.RaftMessageType.Unspecified;
        Wire.RaftMessage future = RaftMessageCodec.ToProto(FullMessage(MessageType.Heartbeat));
        future.Type = (Wire.RaftMessageType)99;

        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(unspecified));
        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(Reparse(future)));
    }

    [Fact]
    public void UnknownEntryTypesAreRejected()
    {
        Wire.RaftMessage proto = RaftMessageCodec.ToProto(FullMessage(MessageType.AppendEntries));
        proto.Entries[1].Type = (Wire.RaftEntryType)42;

        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(Reparse(proto)));
    }

    [Fact]
    public void InstallSnapshotWithoutMetadataIsRejected()
    {
        Wire.RaftMessage proto = RaftMessageCodec.ToProto(FullMessage(MessageType.InstallSnapshot));
        proto.Snapshot = null;

        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(proto));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 1, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9 })]
    public void MalformedSnapshotConfigurationIsRejected(byte[] configuration)
    {
        Wire.RaftMessage proto = RaftMessageCodec.ToProto(FullMessage(MessageType.InstallSnapshot));
        proto.Snapshot.Configuration = ByteString.CopyFrom(configuration);

        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(proto));
    }

    [Fact]
    public void SnapshotChunksSurviveTheWire()
    {
        Message install = FullMessage(MessageType.InstallSnapshot) with { Entries = [] };
        byte[] data = [9, 8, 7, 6];
        var chunk = new SnapshotChunk(Snapshot, 4096, data, 0xDEADBEEF, 8192, 0xCAFEF00D);

        Wire.SnapshotChunk wire = Wire.SnapshotChunk.Parser.ParseFrom(RaftMessageCodec.ToProto(install, chunk).ToByteArray());
        (Message decodedInstall, SnapshotChunk decoded) = RaftMessageCodec.FromProto(wire);

        AssertSameMessage(install, decodedInstall);
        Assert.Equal(chunk.Metadata, decoded.Metadata);
        Assert.Equal(chunk.OffsetBytes, decoded.OffsetBytes);
        Assert.Equal(data, decoded.Data.ToArray());
        Assert.Equal(chunk.ChunkCrc, decoded.ChunkCrc);
        Assert.Equal(chunk.TotalLengthBytes, decoded.TotalLengthBytes);
        Assert.Equal(chunk.SnapshotCrc, decoded.SnapshotCrc);
    }

    [Theory]
    [InlineData(-1, 10)]
    [InlineData(11, 10)]
    [InlineData(0, -1)]
    public void SnapshotChunksWithImpossibleOffsetsAreRejected(long offsetBytes, long totalLengthBytes)
    {
        Message install = FullMessage(MessageType.InstallSnapshot);
        Wire.SnapshotChunk wire = RaftMessageCodec.ToProto(install, new SnapshotChunk(Snapshot, 0, new byte[1], 0, 10, 0));
        wire.OffsetBytes = offsetBytes;
        wire.TotalLengthBytes = totalLengthBytes;

        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wire));
    }

    [Fact]
    public void SnapshotChunksMustCarryAnInstallSnapshotMessage()
    {
        Wire.SnapshotChunk missing = RaftMessageCodec.ToProto(FullMessage(MessageType.InstallSnapshot), new SnapshotChunk(Snapshot, 0, new byte[1], 0, 1, 0));
        Wire.SnapshotChunk wrongType = missing.Clone();
        missing.InstallSnapshot = null;
        wrongType.InstallSnapshot.Type = Wire.RaftMessageType.Heartbeat;

        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(missing));
        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wrongType));
    }

    [Theory]
    [InlineData(ChunkOutcome.Accepted, 100)]
    [InlineData(ChunkOutcome.Completed, 8192)]
    [InlineData(ChunkOutcome.OutOfOrder, 0)]
    [InlineData(ChunkOutcome.ChunkChecksumMismatch, 4096)]
    [InlineData(ChunkOutcome.SnapshotChecksumMismatch, 0)]
    [InlineData(ChunkOutcome.Stale, long.MaxValue)]
    public void ChunkReceiptsSurviveTheWire(ChunkOutcome outcome, long nextOffsetBytes)
    {
        var receipt = new ChunkReceipt(outcome, nextOffsetBytes);

        ChunkReceipt decoded = RaftMessageCodec.FromProto(Wire.ChunkReceipt.Parser.ParseFrom(RaftMessageCodec.ToProto(receipt).ToByteArray()));

        Assert.Equal(receipt, decoded);
    }

    [Fact]
    public void MalformedChunkReceiptsAreRejected()
    {
        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(new Wire.ChunkReceipt { Outcome = (Wire.ChunkOutcome)17 }));
        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(new Wire.ChunkReceipt { NextOffsetBytes = -1 }));
    }

    private static Message RoundTrip(Message message)
    {
        byte[] bytes = new Wire.MessageBatch { Messages = { RaftMessageCodec.ToProto(message) } }.ToByteArray();
        return RaftMessageCodec.FromProto(Wire.MessageBatch.Parser.ParseFrom(bytes).Messages.Single());
    }

    private static Wire.RaftMessage Reparse(Wire.RaftMessage proto) => Wire.RaftMessage.Parser.ParseFrom(proto.ToByteArray());

    internal static void AssertSameMessage(Message expected, Message actual)
    {
        // Entries compare by content; everything else through the record's equality with the entries aligned.
        Assert.Equal(expected.Entries.Count, actual.Entries.Count);
        for (int i = 0; i < expected.Entries.Count; i++)
        {
            Assert.Equal(expected.Entries[i].Index, actual.Entries[i].Index);
            Assert.Equal(expected.Entries[i].Term, actual.Entries[i].Term);
            Assert.Equal(expected.Entries[i].Type, actual.Entries[i].Type);
            Assert.Equal(expected.Entries[i].Data.ToArray(), actual.Entries[i].Data.ToArray());
        }
        Assert.Equal(expected, actual with { Entries = expected.Entries });
    }
}
