using System.Buffers.Binary;
using RaftKv.Raft;

namespace RaftKv.Storage.Wal;

/// <summary>Record types of the WAL (docs/wal-format.md). 0 is never valid so that zeroed space reads as "no record".</summary>
internal enum WalRecordType : byte
{
    Entry = 1,
    HardState = 2,
    Snapshot = 3,
    Truncate = 4,
}

/// <summary>Snapshot record mode: keep the entries after the snapshot index, or drop the whole log.</summary>
internal enum SnapshotMode : byte
{
    Retain = 0,
    Discard = 1,
}

/// <summary>Record framing: [crc u32][length u32][type u8][reserved 3][payload][zero padding to 8 bytes].</summary>
internal static class WalRecord
{
    public const int HeaderSize = 12;
    public const int Alignment = 8;
    public const int EntryPayloadPrefixSize = 17;

    public static int RecordSize(int payloadLength) => (HeaderSize + payloadLength + Alignment - 1) & ~(Alignment - 1);

    /// <summary>Parses the header at <paramref name="offset"/> and checks the CRC. False means damaged: incomplete, zero, bad length or bad CRC.</summary>
    public static bool TryRead(ReadOnlySpan<byte> file, long offset, int maxRecordSizeBytes, out WalRecordType type, out int payloadLength, out int recordSize)
    {
        type = 0;
        payloadLength = 0;
        recordSize = 0;
        if (file.Length - offset < HeaderSize)
        {
            return false;
        }
        ReadOnlySpan<byte> header = file.Slice((int)offset, HeaderSize);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        type = (WalRecordType)header[8];
        if (type == 0 || length > (uint)maxRecordSizeBytes)
        {
            return false;
        }
        payloadLength = (int)length;
        recordSize = RecordSize(payloadLength);
        if (file.Length - offset < recordSize)
        {
            return false;
        }
        uint expected = BinaryPrimitives.ReadUInt32LittleEndian(header);
        return Crc32C.Compute(file.Slice((int)offset + 4, recordSize - 4)) == expected;
    }

    public static bool IsKnownType(WalRecordType type) => type is >= WalRecordType.Entry and <= WalRecordType.Truncate;

    // The decoders run on records whose CRC matched, so a bad payload was written like this (a bug or a forged file,
    // not rot). They report it as FormatException, which recovery turns into WalCorruptionException (row 5).

    public static LogEntry DecodeEntry(ReadOnlySpan<byte> payload, bool copyData)
    {
        RequireLength(payload, EntryPayloadPrefixSize, exact: false, WalRecordType.Entry);
        ulong index = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        ulong term = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        var entryType = (EntryType)payload[16];
        if (!Enum.IsDefined(entryType))
        {
            throw new FormatException($"entry {index} has unknown entry type {payload[16]}");
        }
        ReadOnlyMemory<byte> data = copyData ? payload[EntryPayloadPrefixSize..].ToArray() : ReadOnlyMemory<byte>.Empty;
        return new LogEntry(index, term, entryType, data);
    }

    public static HardState DecodeHardState(ReadOnlySpan<byte> payload)
    {
        RequireLength(payload, 24, exact: true, WalRecordType.HardState);
        return new HardState(
            BinaryPrimitives.ReadUInt64LittleEndian(payload),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(payload[16..]));
    }

    public static (SnapshotMetadata Metadata, SnapshotMode Mode) DecodeSnapshot(ReadOnlySpan<byte> payload)
    {
        RequireLength(payload, 17, exact: false, WalRecordType.Snapshot);
        var mode = (SnapshotMode)payload[16];
        if (!Enum.IsDefined(mode))
        {
            throw new FormatException($"snapshot record has unknown mode {payload[16]}");
        }
        return (
            new SnapshotMetadata(
                BinaryPrimitives.ReadUInt64LittleEndian(payload),
                BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]),
                ClusterConfiguration.Decode(payload[17..])),
            mode);
    }

    public static ulong DecodeTruncate(ReadOnlySpan<byte> payload)
    {
        RequireLength(payload, 8, exact: true, WalRecordType.Truncate);
        return BinaryPrimitives.ReadUInt64LittleEndian(payload);
    }

    private static void RequireLength(ReadOnlySpan<byte> payload, int bytes, bool exact, WalRecordType type)
    {
        if (payload.Length < bytes || (exact && payload.Length != bytes))
        {
            throw new FormatException($"{type} payload is {payload.Length} bytes; it must be {(exact ? "exactly" : "at least")} {bytes}");
        }
    }
}

/// <summary>
/// A reusable buffer into which a whole batch of records is encoded, so that a batch costs one write call and no
/// per-record allocation.
/// </summary>
internal sealed class WalRecordBuffer
{
    private byte[] _bytes = new byte[64 * 1024];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Written => _bytes.AsSpan(0, Length);

    public void Reset() => Length = 0;

    /// <summary>Appends an Entry record; returns its offset within the buffer.</summary>
    public int AppendEntry(in LogEntry entry)
    {
        ReadOnlySpan<byte> data = entry.Data.Span;
        int start = Begin(WalRecordType.Entry, WalRecord.EntryPayloadPrefixSize + data.Length, out Span<byte> payload);
        BinaryPrimitives.WriteUInt64LittleEndian(payload, entry.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], entry.Term);
        payload[16] = (byte)entry.Type;
        data.CopyTo(payload[WalRecord.EntryPayloadPrefixSize..]);
        End(start);
        return start;
    }

    public void AppendHardState(HardState hardState)
    {
        int start = Begin(WalRecordType.HardState, 24, out Span<byte> payload);
        BinaryPrimitives.WriteUInt64LittleEndian(payload, hardState.Term);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], hardState.Vote);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[16..], hardState.Commit);
        End(start);
    }

    public void AppendSnapshot(SnapshotMetadata metadata, SnapshotMode mode)
    {
        byte[] configuration = metadata.Configuration.Encode();
        int start = Begin(WalRecordType.Snapshot, 17 + configuration.Length, out Span<byte> payload);
        BinaryPrimitives.WriteUInt64LittleEndian(payload, metadata.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], metadata.Term);
        payload[16] = (byte)mode;
        configuration.CopyTo(payload[17..]);
        End(start);
    }

    public void AppendTruncate(ulong fromIndex)
    {
        int start = Begin(WalRecordType.Truncate, 8, out Span<byte> payload);
        BinaryPrimitives.WriteUInt64LittleEndian(payload, fromIndex);
        End(start);
    }

    private int Begin(WalRecordType type, int payloadLength, out Span<byte> payload)
    {
        int start = Length;
        int size = WalRecord.RecordSize(payloadLength);
        if (start + size > _bytes.Length)
        {
            Array.Resize(ref _bytes, (int)Math.Min(Array.MaxLength, Math.Max((long)_bytes.Length * 2, (long)start + size)));
        }
        Span<byte> record = _bytes.AsSpan(start, size);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)payloadLength);
        record[8] = (byte)type;
        record.Slice(9, 3).Clear();
        record[(WalRecord.HeaderSize + payloadLength)..].Clear();
        payload = record.Slice(WalRecord.HeaderSize, payloadLength);
        Length = start + size;
        return start;
    }

    private void End(int start)
    {
        Span<byte> record = _bytes.AsSpan(start, Length - start);
        BinaryPrimitives.WriteUInt32LittleEndian(record, Crc32C.Compute(record[4..]));
    }
}
