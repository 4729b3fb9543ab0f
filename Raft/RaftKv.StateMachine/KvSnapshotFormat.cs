using System.Buffers.Binary;
using System.Security.Cryptography;

namespace RaftKv.StateMachine;

/// <summary>
/// The canonical snapshot format of the KV state machine, shared by <see cref="FasterKvStateMachine"/> and its
/// in-memory twin so that replicas with equal state produce equal bytes whatever stores them. Little-endian:
/// "RKVSNAP1", appliedIndex u64, session table (see <see cref="SessionTable.WriteTo"/>), key count u64, then per key
/// in ascending byte order [keyLen u32][key][createIndex u64][modIndex u64][valueLen u32][value], then the SHA-256
/// of everything before it.
/// </summary>
internal sealed class KvSnapshotWriter : IDisposable
{
    private readonly Stream _destination;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[] _entry = new byte[1024];

    /// <summary>Writes the header; then call <see cref="WriteRecord"/> exactly <paramref name="keyCount"/> times in ascending key order, then <see cref="Finish"/>.</summary>
    public KvSnapshotWriter(Stream destination, ulong index, SessionTableImage sessions, ulong keyCount)
    {
        _destination = destination;
        Span<byte> number = stackalloc byte[8];
        Append(KvSnapshotFormat.Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(number, index);
        Append(number);
        using (var table = new MemoryStream())
        {
            SessionTable.WriteTo(sessions, table);
            Append(table.GetBuffer().AsSpan(0, (int)table.Length));
        }
        BinaryPrimitives.WriteUInt64LittleEndian(number, keyCount);
        Append(number);
    }

    /// <summary>Bytes of keys and records written so far (the live data's size).</summary>
    public long RecordBytes { get; private set; }

    /// <summary>One key and its record ([createIndex][modIndex][value], as stored).</summary>
    public void WriteRecord(ReadOnlySpan<byte> key, ReadOnlySpan<byte> record)
    {
        // One hash update and one write per key (each call into the hash has a fixed cost): the entry is laid out in
        // a reused buffer first.
        int versions = KvApply.RecordVersionBytes;
        int size = 4 + key.Length + versions + 4 + (record.Length - versions);
        if (_entry.Length < size) _entry = new byte[Math.Max(size, 2 * _entry.Length)];
        Span<byte> entry = _entry.AsSpan(0, size);
        BinaryPrimitives.WriteUInt32LittleEndian(entry, (uint)key.Length);
        key.CopyTo(entry[4..]);
        record[..versions].CopyTo(entry[(4 + key.Length)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[(4 + key.Length + versions)..], (uint)(record.Length - versions));
        record[versions..].CopyTo(entry[(8 + key.Length + versions)..]);
        Append(entry);
        RecordBytes += key.Length + record.Length;
    }

    public void Finish() => _destination.Write(_hash.GetHashAndReset());

    public void Dispose() => _hash.Dispose();

    private void Append(ReadOnlySpan<byte> bytes)
    {
        _hash.AppendData(bytes);
        _destination.Write(bytes);
    }
}

/// <summary>Reading the format <see cref="KvSnapshotWriter"/> writes.</summary>
internal static class KvSnapshotFormat
{
    public static ReadOnlySpan<byte> Magic => "RKVSNAP1"u8;

    /// <summary>
    /// Verifies and loads a snapshot: <paramref name="upsert"/> receives every key with its versions and value, in
    /// ascending key order; returns the session table. Corrupt or mismatched bytes throw <see cref="InvalidDataException"/>.
    /// </summary>
    public static SessionTableImage Read(Stream snapshot, ulong index, StateMachineOptions options, Action<byte[], KeyVersion, byte[]> upsert)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var input = new HashingReadStream(snapshot, hash);
        Span<byte> header = stackalloc byte[16];
        input.ReadExactly(header);
        if (!header[..8].SequenceEqual(Magic)) throw new InvalidDataException("not a RaftKv snapshot");
        ulong snapshotIndex = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        if (snapshotIndex != index) throw new InvalidDataException($"the snapshot reflects index {snapshotIndex}, not {index}");
        var sessions = SessionTable.ReadFrom(input);
        Span<byte> number = stackalloc byte[8];
        input.ReadExactly(number);
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(number);
        byte[]? previousKey = null;
        Span<byte> versions = stackalloc byte[16];
        for (ulong i = 0; i < count; i++)
        {
            byte[] key = ReadBlock(input, options.MaxKeyBytes);
            if (key.Length == 0 || (previousKey is not null && ByteArrayComparer.Instance.Compare(previousKey, key) >= 0))
            {
                throw new InvalidDataException("snapshot keys are empty or not strictly ascending");
            }
            input.ReadExactly(versions);
            byte[] value = ReadBlock(input, options.MaxValueBytes);
            upsert(key, KvApply.ParseVersion(versions), value);
            previousKey = key;
        }
        byte[] expected = hash.GetHashAndReset();
        Span<byte> actual = stackalloc byte[32];
        snapshot.ReadExactly(actual);
        if (!actual.SequenceEqual(expected)) throw new InvalidDataException("snapshot checksum mismatch");
        if (snapshot.ReadByte() != -1) throw new InvalidDataException("trailing bytes after snapshot");
        return sessions;
    }

    private static byte[] ReadBlock(Stream input, int maxBytes)
    {
        Span<byte> length = stackalloc byte[4];
        input.ReadExactly(length);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(length);
        if (size > (uint)maxBytes) throw new InvalidDataException($"snapshot field of {size} bytes exceeds the limit {maxBytes}");
        var bytes = new byte[size];
        input.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Forwards reads and feeds the bytes read to a hash.</summary>
    private sealed class HashingReadStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(Span<byte> buffer)
        {
            int read = inner.Read(buffer);
            hash.AppendData(buffer[..read]);
            return read;
        }
    }
}
