using Google.Protobuf;
using RaftKv.Raft;
using RaftKv.Storage.Snapshots;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh;

/// <summary>
/// Converts between <see cref="Message"/> (and the snapshot transfer types) and their protobuf form. Lossless:
/// <c>FromProto(ToProto(m)) == m</c> field by field. Entry data is never copied: outgoing entries wrap the caller's
/// memory (which Raft never mutates once a message is emitted), incoming entries alias the parsed ByteString.
/// Decoding untrusted input throws <see cref="InvalidDataException"/> and nothing else.
/// </summary>
public static class RaftMessageCodec
{
    public static Wire.RaftMessage ToProto(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var proto = new Wire.RaftMessage
        {
            Type = (Wire.RaftMessageType)message.Type,
            From = message.From,
            To = message.To,
            Term = message.Term,
            LogIndex = message.LogIndex,
            LogTerm = message.LogTerm,
            Commit = message.Commit,
            Reject = message.Reject,
            ConflictTerm = message.ConflictTerm,
            ConflictIndex = message.ConflictIndex,
            ReadRound = message.ReadRound,
            ReadRequestId = message.ReadRequestId,
            LeadershipTransfer = message.LeadershipTransfer,
        };
        foreach (LogEntry entry in message.Entries)
        {
            proto.Entries.Add(new Wire.Entry
            {
                Index = entry.Index,
                Term = entry.Term,
                Type = (Wire.RaftEntryType)entry.Type,
                Data = UnsafeByteOperations.UnsafeWrap(entry.Data),
            });
        }
        if (message.Snapshot is { } snapshot)
        {
            proto.Snapshot = new Wire.SnapshotMetadata
            {
                Index = snapshot.Index,
                Term = snapshot.Term,
                Configuration = UnsafeByteOperations.UnsafeWrap(snapshot.Configuration.Encode()),
            };
        }
        return proto;
    }

    /// <exception cref="InvalidDataException">Unknown message or entry type, a configuration entry that does not decode, missing or malformed snapshot metadata.</exception>
    public static Message FromProto(Wire.RaftMessage proto)
    {
        if (proto is null)
        {
            throw new InvalidDataException("the Raft message is missing");
        }
        // MessageType and EntryType are bytes while protobuf enums are int32: range-check before the cast, or 261
        // would wrap to 5 and an unknown wire type would be taken for AppendEntries.
        var type = (MessageType)(byte)proto.Type;
        if ((int)proto.Type is < 0 or > byte.MaxValue || !Enum.IsDefined(type))
        {
            throw new InvalidDataException($"unknown Raft message type {(int)proto.Type}");
        }
        LogEntry[] entries = proto.Entries.Count == 0 ? [] : new LogEntry[proto.Entries.Count];
        for (int i = 0; i < entries.Length; i++)
        {
            Wire.Entry entry = proto.Entries[i];
            var entryType = (EntryType)(byte)entry.Type;
            if ((int)entry.Type is < 0 or > byte.MaxValue || !Enum.IsDefined(entryType))
            {
                throw new InvalidDataException($"unknown entry type {(int)entry.Type} at index {entry.Index}");
            }
            if (entryType == EntryType.Configuration)
            {
                // Raft decodes a configuration entry as soon as it is appended; refuse here one it could not decode.
                DecodeConfiguration(entry.Data.Span, $"configuration entry {entry.Index}");
            }
            entries[i] = new LogEntry(entry.Index, entry.Term, entryType, entry.Data.Memory);
        }
        SnapshotMetadata? snapshot = proto.Snapshot is { } wireSnapshot ? FromProto(wireSnapshot) : null;
        if (type == MessageType.InstallSnapshot && snapshot is null)
        {
            throw new InvalidDataException("an InstallSnapshot message must carry snapshot metadata");
        }
        return new Message
        {
            Type = type,
            From = proto.From,
            To = proto.To,
            Term = proto.Term,
            LogIndex = proto.LogIndex,
            LogTerm = proto.LogTerm,
            Entries = entries,
            Commit = proto.Commit,
            Reject = proto.Reject,
            ConflictTerm = proto.ConflictTerm,
            ConflictIndex = proto.ConflictIndex,
            ReadRound = proto.ReadRound,
            ReadRequestId = proto.ReadRequestId,
            Snapshot = snapshot,
            LeadershipTransfer = proto.LeadershipTransfer,
        };
    }

    public static Wire.SnapshotChunk ToProto(Message installSnapshot, in SnapshotChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(installSnapshot);
        if (installSnapshot.Type != MessageType.InstallSnapshot || installSnapshot.Snapshot != chunk.Metadata)
        {
            throw new ArgumentException("the chunk must travel with the InstallSnapshot message that names its snapshot", nameof(installSnapshot));
        }
        return new Wire.SnapshotChunk
        {
            InstallSnapshot = ToProto(installSnapshot),
            OffsetBytes = chunk.OffsetBytes,
            Data = UnsafeByteOperations.UnsafeWrap(chunk.Data),
            ChunkCrc = chunk.ChunkCrc,
            TotalLengthBytes = chunk.TotalLengthBytes,
            SnapshotCrc = chunk.SnapshotCrc,
        };
    }

    /// <exception cref="InvalidDataException">The chunk is not well formed (see <see cref="FromProto(Wire.RaftMessage)"/>).</exception>
    public static (Message InstallSnapshot, SnapshotChunk Chunk) FromProto(Wire.SnapshotChunk proto)
    {
        if (proto?.InstallSnapshot is null)
        {
            throw new InvalidDataException("a snapshot chunk must carry its InstallSnapshot message");
        }
        Message installSnapshot = FromProto(proto.InstallSnapshot);
        if (installSnapshot.Type != MessageType.InstallSnapshot)
        {
            throw new InvalidDataException($"a snapshot chunk must carry an InstallSnapshot message, not {installSnapshot.Type}");
        }
        if (proto.OffsetBytes < 0 || proto.TotalLengthBytes < 0 || proto.OffsetBytes > proto.TotalLengthBytes)
        {
            throw new InvalidDataException($"chunk offset {proto.OffsetBytes} is outside the snapshot's {proto.TotalLengthBytes} bytes");
        }
        var chunk = new SnapshotChunk(
            installSnapshot.Snapshot!,
            proto.OffsetBytes,
            proto.Data.Memory,
            proto.ChunkCrc,
            proto.TotalLengthBytes,
            proto.SnapshotCrc);
        return (installSnapshot, chunk);
    }

    public static Wire.ChunkReceipt ToProto(in ChunkReceipt receipt) =>
        new() { Outcome = (Wire.ChunkOutcome)receipt.Outcome, NextOffsetBytes = receipt.NextOffsetBytes };

    /// <exception cref="InvalidDataException">Unknown outcome or negative offset.</exception>
    public static ChunkReceipt FromProto(Wire.ChunkReceipt proto)
    {
        if (proto is null)
        {
            throw new InvalidDataException("the chunk receipt is missing");
        }
        var outcome = (ChunkOutcome)proto.Outcome;
        if (!Enum.IsDefined(outcome) || proto.NextOffsetBytes < 0)
        {
            throw new InvalidDataException($"malformed chunk receipt {proto.Outcome}/{proto.NextOffsetBytes}");
        }
        return new ChunkReceipt(outcome, proto.NextOffsetBytes);
    }

    private static SnapshotMetadata FromProto(Wire.SnapshotMetadata proto) =>
        new(proto.Index, proto.Term, DecodeConfiguration(proto.Configuration.Span, "snapshot configuration"));

    private static ClusterConfiguration DecodeConfiguration(ReadOnlySpan<byte> bytes, string what)
    {
        try
        {
            return ClusterConfiguration.Decode(bytes);
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException)
        {
            throw new InvalidDataException($"malformed {what}: {exception.Message}", exception);
        }
    }
}
