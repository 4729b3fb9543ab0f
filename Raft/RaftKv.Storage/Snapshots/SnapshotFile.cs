using System.Buffers.Binary;
using RaftKv.Raft;

namespace RaftKv.Storage.Snapshots;

/// <summary>What a verified snapshot file holds: its metadata and where its (opaque) data lies.</summary>
/// <param name="DataOffset">Byte offset of the state machine data in the file.</param>
/// <param name="DataLengthBytes">Length of the data.</param>
/// <param name="DataCrc">CRC32C of the data (what <see cref="SnapshotChunker"/> promises receivers).</param>
/// <param name="FileCrc">CRC32C of every byte of the file before the last four (the file's own trailer checksum).</param>
public sealed record SnapshotFileInfo(SnapshotMetadata Metadata, long DataOffset, long DataLengthBytes, uint DataCrc, uint FileCrc);

/// <summary>
/// The snapshot store's file format (docs/wal-format.md, "Snapshot store"), for the store itself and for copies of a
/// snapshot outside it (backups: <c>raftkv snapshot save</c> writes exactly this format, <c>raftkv snapshot restore</c>
/// verifies it). One verifier for every reader, so a backup is accepted exactly when the store would accept it.
/// </summary>
public static class SnapshotFile
{
    internal const int FixedHeaderSize = 28;

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <c>offset</c>; returns how many it read (fewer only at the end).</summary>
    public delegate int ReadAt(long offset, Span<byte> buffer);

    /// <summary>
    /// Checks a whole snapshot file: magic and version, the whole-file CRC32C, the data length against the file
    /// length, the data CRC32C, and that the configuration decodes.
    /// </summary>
    /// <param name="path">Names the file in errors.</param>
    /// <exception cref="SnapshotCorruptionException">Any check fails; the reason says which.</exception>
    public static SnapshotFileInfo Verify(string path, long length, ReadAt read)
    {
        ArgumentNullException.ThrowIfNull(read);
        Span<byte> fixedHeader = stackalloc byte[FixedHeaderSize];
        if (length < FixedHeaderSize + SnapshotStore.TrailerSize || read(0, fixedHeader) != FixedHeaderSize)
        {
            throw new SnapshotCorruptionException(path, "file is too short");
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(fixedHeader) != SnapshotStore.Magic ||
            BinaryPrimitives.ReadUInt32LittleEndian(fixedHeader[4..]) != SnapshotStore.FormatVersion)
        {
            throw new SnapshotCorruptionException(path, "bad magic or version");
        }
        uint configurationLength = BinaryPrimitives.ReadUInt32LittleEndian(fixedHeader[24..]);
        long dataOffset = FixedHeaderSize + (long)configurationLength;
        if (dataOffset + SnapshotStore.TrailerSize > length)
        {
            throw new SnapshotCorruptionException(path, "configuration length runs past the end of the file");
        }

        // Whole-file CRC and the CRC of the data (everything between the header and the trailer), in one streamed pass.
        // The data CRC is what SnapshotChunker promises receivers, so it is checked too: a file whose trailer carries a
        // wrong one would make every transfer fail its final check and restart forever.
        uint state = Crc32C.InitialState;
        uint dataState = Crc32C.InitialState;
        byte[] buffer = new byte[1 << 20];
        long covered = length - 4;
        long dataEnd = length - SnapshotStore.TrailerSize;
        for (long offset = 0; offset < covered;)
        {
            int count = (int)Math.Min(buffer.Length, covered - offset);
            if (read(offset, buffer.AsSpan(0, count)) != count)
            {
                throw new SnapshotCorruptionException(path, "short read");
            }
            state = Crc32C.Append(state, buffer.AsSpan(0, count));
            long from = Math.Max(offset, dataOffset);
            long to = Math.Min(offset + count, dataEnd);
            if (from < to)
            {
                dataState = Crc32C.Append(dataState, buffer.AsSpan((int)(from - offset), (int)(to - from)));
            }
            offset += count;
        }
        Span<byte> trailer = stackalloc byte[SnapshotStore.TrailerSize];
        if (read(length - SnapshotStore.TrailerSize, trailer) != SnapshotStore.TrailerSize)
        {
            throw new SnapshotCorruptionException(path, "short read");
        }
        uint fileCrc = Crc32C.Finish(state);
        if (fileCrc != BinaryPrimitives.ReadUInt32LittleEndian(trailer[12..]))
        {
            throw new SnapshotCorruptionException(path, "whole-file checksum mismatch");
        }
        long dataLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(trailer);
        if (dataOffset + dataLength + SnapshotStore.TrailerSize != length)
        {
            throw new SnapshotCorruptionException(path, "data length does not match the file length");
        }
        uint dataCrc = BinaryPrimitives.ReadUInt32LittleEndian(trailer[8..]);
        if (Crc32C.Finish(dataState) != dataCrc)
        {
            throw new SnapshotCorruptionException(path, "data checksum mismatch (the whole-file checksum matched: a writer bug or a forged file)");
        }
        byte[] configuration = new byte[configurationLength];
        if (read(FixedHeaderSize, configuration) != configuration.Length)
        {
            throw new SnapshotCorruptionException(path, "short read");
        }
        ClusterConfiguration decoded;
        try
        {
            decoded = ClusterConfiguration.Decode(configuration);
        }
        catch (FormatException exception)
        {
            // The checksum matched, so these bytes were written like this: a writer bug or a forged file, not rot.
            throw new SnapshotCorruptionException(path, $"the configuration does not decode: {exception.Message}");
        }
        var metadata = new SnapshotMetadata(
            BinaryPrimitives.ReadUInt64LittleEndian(fixedHeader[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(fixedHeader[16..]),
            decoded);
        return new SnapshotFileInfo(metadata, dataOffset, dataLength, dataCrc, fileCrc);
    }

    /// <summary>Verifies a snapshot file on disk (see <see cref="Verify(string, long, ReadAt)"/>).</summary>
    public static SnapshotFileInfo Verify(string path)
    {
        using Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        return Verify(path, RandomAccess.GetLength(handle), (offset, buffer) => ReadFully(handle, offset, buffer));
    }

    private static int ReadFully(Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(handle, buffer[total..], offset + total);
            if (read == 0) break;
            total += read;
        }
        return total;
    }
}

/// <summary>
/// Writes one snapshot in the store's file format to any stream, in one forward pass (the checksums are in the
/// trailer): the header at construction, the data through <see cref="Write"/>, the trailer at <see cref="Finish"/>.
/// This is how a snapshot leaves the store as a backup without being staged on disk first.
/// </summary>
public sealed class SnapshotFileEncoder : Stream
{
    private readonly Stream _destination;
    private uint _fileCrcState = Crc32C.InitialState;
    private uint _dataCrcState = Crc32C.InitialState;
    private bool _finished;

    public SnapshotFileEncoder(Stream destination, SnapshotMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(metadata);
        _destination = destination;
        byte[] header = SnapshotStore.EncodeHeader(metadata);
        _destination.Write(header);
        _fileCrcState = Crc32C.Append(_fileCrcState, header);
        LengthBytes = header.Length;
    }

    /// <summary>Bytes written to the destination so far (header, data and, once finished, the trailer).</summary>
    public long LengthBytes { get; private set; }

    public long DataLengthBytes { get; private set; }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => LengthBytes;
    public override long Position { get => LengthBytes; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _destination.Write(buffer);
        _fileCrcState = Crc32C.Append(_fileCrcState, buffer);
        _dataCrcState = Crc32C.Append(_dataCrcState, buffer);
        DataLengthBytes += buffer.Length;
        LengthBytes += buffer.Length;
    }

    /// <summary>Writes the trailer (data length, data CRC32C, whole-file CRC32C) and flushes the destination.</summary>
    public void Finish()
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        Span<byte> trailer = stackalloc byte[SnapshotStore.TrailerSize];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, (ulong)DataLengthBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[8..], Crc32C.Finish(_dataCrcState));
        _fileCrcState = Crc32C.Append(_fileCrcState, trailer[..12]);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[12..], Crc32C.Finish(_fileCrcState));
        _destination.Write(trailer);
        LengthBytes += trailer.Length;
        _destination.Flush();
        _finished = true;
    }

    public override void Flush() => _destination.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
