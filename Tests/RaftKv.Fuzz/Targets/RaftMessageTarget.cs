using Google.Protobuf;
using RaftKv.Mesh;
using RaftKv.Raft;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Fuzz.Targets;

/// <summary>
/// The peer wire: [selector u8][protobuf bytes]. Selector 0 is a <see cref="Wire.MessageBatch"/> (PeerService.Send),
/// 1 a <see cref="Wire.SnapshotChunk"/> and 2 a <see cref="Wire.ChunkReceipt"/> (PeerService.InstallSnapshot). Each is
/// parsed and decoded by <see cref="RaftMessageCodec"/>; bad input must surface as
/// <see cref="InvalidProtocolBufferException"/> or <see cref="InvalidDataException"/>. A decoded message must keep
/// the wire's values and survive encode then decode unchanged.
/// </summary>
public static class RaftMessageTarget
{
    public const byte Batch = 0;
    public const byte Chunk = 1;
    public const byte Receipt = 2;

    public static FuzzOutcome Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return FuzzOutcome.Rejected;
        }
        ReadOnlySpan<byte> body = input.AsSpan(1);
        switch (input[0] % 3)
        {
            case Batch:
                foreach (Wire.RaftMessage wire in Wire.MessageBatch.Parser.ParseFrom(body).Messages)
                {
                    Message message = RaftMessageCodec.FromProto(wire);
                    CheckMatchesWire(wire, message);
                    CheckRoundTrip(message, RaftMessageCodec.FromProto(RaftMessageCodec.ToProto(message)));
                }
                break;
            case Chunk:
                Wire.SnapshotChunk wireChunk = Wire.SnapshotChunk.Parser.ParseFrom(body);
                (Message installSnapshot, Storage.Snapshots.SnapshotChunk chunk) = RaftMessageCodec.FromProto(wireChunk);
                CheckMatchesWire(wireChunk.InstallSnapshot, installSnapshot);
                (Message again, Storage.Snapshots.SnapshotChunk chunkAgain) = RaftMessageCodec.FromProto(RaftMessageCodec.ToProto(installSnapshot, chunk));
                CheckRoundTrip(installSnapshot, again);
                if (chunkAgain.OffsetBytes != chunk.OffsetBytes || chunkAgain.TotalLengthBytes != chunk.TotalLengthBytes
                    || chunkAgain.ChunkCrc != chunk.ChunkCrc || chunkAgain.SnapshotCrc != chunk.SnapshotCrc
                    || !chunkAgain.Data.Span.SequenceEqual(chunk.Data.Span) || chunkAgain.Metadata != chunk.Metadata)
                {
                    throw new FuzzPropertyException("a snapshot chunk changed in an encode/decode round trip");
                }
                break;
            default:
                Wire.ChunkReceipt wireReceipt = Wire.ChunkReceipt.Parser.ParseFrom(body);
                Storage.Snapshots.ChunkReceipt receipt = RaftMessageCodec.FromProto(wireReceipt);
                if ((int)receipt.Outcome != (int)wireReceipt.Outcome || receipt.NextOffsetBytes != wireReceipt.NextOffsetBytes
                    || RaftMessageCodec.FromProto(RaftMessageCodec.ToProto(receipt)) != receipt)
                {
                    throw new FuzzPropertyException($"chunk receipt {wireReceipt} decoded as {receipt}");
                }
                break;
        }
        return FuzzOutcome.Accepted;
    }

    /// <summary>
    /// The codec must refuse what it cannot represent, not silently change it (for example an out-of-range enum), and
    /// must refuse a configuration entry that Raft could not decode.
    /// </summary>
    private static void CheckMatchesWire(Wire.RaftMessage wire, Message message)
    {
        if ((int)wire.Type != (int)message.Type || wire.Entries.Count != message.Entries.Count || wire.Term != message.Term)
        {
            throw new FuzzPropertyException($"message {message} does not carry the wire's type {(int)wire.Type}, term or entry count");
        }
        for (int i = 0; i < wire.Entries.Count; i++)
        {
            if ((int)wire.Entries[i].Type != (int)message.Entries[i].Type)
            {
                throw new FuzzPropertyException($"entry {i} has wire type {(int)wire.Entries[i].Type} but decoded as {message.Entries[i].Type}");
            }
            if (message.Entries[i].Type == EntryType.Configuration)
            {
                Properties.ConfigurationEntryDecodes(message.Entries[i]);
            }
        }
    }

    private static void CheckRoundTrip(Message first, Message second)
    {
        if (first with { Entries = [] } != second with { Entries = [] } || first.Entries.Count != second.Entries.Count)
        {
            throw new FuzzPropertyException($"message {first} became {second} in an encode/decode round trip");
        }
        for (int i = 0; i < first.Entries.Count; i++)
        {
            LogEntry a = first.Entries[i], b = second.Entries[i];
            if (a.Index != b.Index || a.Term != b.Term || a.Type != b.Type || !a.Data.Span.SequenceEqual(b.Data.Span))
            {
                throw new FuzzPropertyException($"entry {a} became {b} in an encode/decode round trip");
            }
        }
    }

    public static IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        var configuration = new ClusterConfiguration([1, 2, 3], [4]);
        var snapshot = new SnapshotMetadata(40, 3, configuration);
        Message[] messages =
        [
            new() { Type = MessageType.PreVote, From = 1, To = 2, Term = 4, LogIndex = 9, LogTerm = 3 },
            new() { Type = MessageType.RequestVoteResponse, From = 2, To = 1, Term = 4, Reject = true },
            new()
            {
                Type = MessageType.AppendEntries, From = 1, To = 2, Term = 3, LogIndex = 7, LogTerm = 2, Commit = 6,
                Entries = [LogEntry.Command(8, 3, "put x=1"u8.ToArray()), new LogEntry(9, 3, EntryType.NoOp, default),
                    new LogEntry(10, 3, EntryType.Configuration, configuration.Encode())],
            },
            new() { Type = MessageType.AppendEntriesResponse, From = 2, To = 1, Term = 3, Reject = true, ConflictTerm = 2, ConflictIndex = 5 },
            new() { Type = MessageType.Heartbeat, From = 1, To = 3, Term = 3, Commit = 6, ReadRound = 11 },
            new() { Type = MessageType.ReadIndex, From = 3, To = 1, Term = 3, ReadRequestId = 77 },
            new() { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 3, Snapshot = snapshot },
        ];
        var batch = new Wire.MessageBatch();
        foreach (Message message in messages)
        {
            batch.Messages.Add(RaftMessageCodec.ToProto(message));
            yield return ("batch-" + message.Type, [Batch, .. new Wire.MessageBatch { Messages = { RaftMessageCodec.ToProto(message) } }.ToByteArray()]);
        }
        yield return ("batch-all", [Batch, .. batch.ToByteArray()]);
        byte[] data = "snapshot bytes"u8.ToArray();
        var chunk = new Storage.Snapshots.SnapshotChunk(snapshot, 0, data, Storage.Crc32C.Compute(data), data.Length, Storage.Crc32C.Compute(data));
        yield return ("chunk", [Chunk, .. RaftMessageCodec.ToProto(messages[^1], chunk).ToByteArray()]);
        yield return ("receipt", [Receipt, .. RaftMessageCodec.ToProto(new Storage.Snapshots.ChunkReceipt(Storage.Snapshots.ChunkOutcome.OutOfOrder, 1024)).ToByteArray()]);
    }
}
