using RaftKv.Raft;
using RaftKv.Storage.FileSystem;

namespace RaftKv.Storage.Snapshots;

/// <summary>Options of chunked snapshot transfer.</summary>
public sealed record SnapshotTransferOptions
{
    /// <summary>The data bytes carried by each chunk (the last may be shorter).</summary>
    public int ChunkSizeBytes { get; init; } = 1024 * 1024;

    public IReadOnlyList<string> Validate() =>
        ChunkSizeBytes is < 1 or > 64 * 1024 * 1024
            ? [$"{nameof(ChunkSizeBytes)} must be in [1, 64 MiB], was {ChunkSizeBytes}"]
            : [];
}

/// <summary>
/// One piece of an InstallSnapshot transfer: <see cref="Data"/> is the snapshot data at <see cref="OffsetBytes"/>,
/// with its own CRC32C, plus the total length and CRC32C of the whole data so the receiver can verify the result.
/// </summary>
public readonly record struct SnapshotChunk(
    SnapshotMetadata Metadata,
    long OffsetBytes,
    ReadOnlyMemory<byte> Data,
    uint ChunkCrc,
    long TotalLengthBytes,
    uint SnapshotCrc)
{
    public bool IsLast => OffsetBytes + Data.Length == TotalLengthBytes;
}

/// <summary>
/// The sender's side: cuts the store's latest snapshot into chunks. Holds its own handle on the snapshot file, so a
/// newer snapshot being published meanwhile does not disturb a transfer in progress (the old file stays readable
/// through the open handle). Any offset can be read, so the sender resumes wherever the receiver asks.
/// </summary>
public sealed class SnapshotChunker : IDisposable
{
    private readonly IFileHandle _handle;
    private readonly long _dataOffset;

    public SnapshotChunker(SnapshotStore store, SnapshotTransferOptions options)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }
        Metadata = store.Latest ?? throw new InvalidOperationException("there is no snapshot to send");
        TotalLengthBytes = store.LatestLengthBytes;
        SnapshotCrc = store.LatestDataCrc;
        ChunkSizeBytes = options.ChunkSizeBytes;
        _dataOffset = store.LatestDataOffset;
        _handle = store.OpenLatest();
    }

    public SnapshotMetadata Metadata { get; }

    public long TotalLengthBytes { get; }

    public uint SnapshotCrc { get; }

    public int ChunkSizeBytes { get; }

    /// <summary>The chunk starting at <paramref name="offsetBytes"/> (normally the receiver's next expected offset).</summary>
    public SnapshotChunk ReadChunk(long offsetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offsetBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offsetBytes, TotalLengthBytes);
        byte[] data = new byte[Math.Min(ChunkSizeBytes, TotalLengthBytes - offsetBytes)];
        if (_handle.Read(_dataOffset + offsetBytes, data) != data.Length)
        {
            throw new IOException($"short read of snapshot {Metadata} at {offsetBytes}");
        }
        return new SnapshotChunk(Metadata, offsetBytes, data, Crc32C.Compute(data), TotalLengthBytes, SnapshotCrc);
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>What the receiver did with a chunk.</summary>
public enum ChunkOutcome
{
    /// <summary>Stored; send the chunk at <see cref="ChunkReceipt.NextOffsetBytes"/>.</summary>
    Accepted = 0,

    /// <summary>The last chunk arrived, the whole checksum matched, and the snapshot is published in the store.</summary>
    Completed = 1,

    /// <summary>Not the expected offset (a chunk was dropped, duplicated or reordered); resend from <see cref="ChunkReceipt.NextOffsetBytes"/>.</summary>
    OutOfOrder = 2,

    /// <summary>The chunk's data does not match its CRC; resend it.</summary>
    ChunkChecksumMismatch = 3,

    /// <summary>Every chunk was fine but the whole data does not match the snapshot CRC; the transfer restarts from 0.</summary>
    SnapshotChecksumMismatch = 4,

    /// <summary>The store already holds this snapshot or a newer one, or a newer snapshot is being received; nothing to do.</summary>
    Stale = 5,
}

/// <summary>The receiver's answer to a chunk; the sender continues from <see cref="NextOffsetBytes"/>.</summary>
public readonly record struct ChunkReceipt(ChunkOutcome Outcome, long NextOffsetBytes);

/// <summary>
/// The receiver's side of InstallSnapshot: accepts chunks strictly in order, checks each chunk's CRC, streams them
/// into the store's temp file, checks the whole-data CRC at the end and then publishes atomically
/// (<see cref="SnapshotWriter.Commit"/>). A chunk at offset 0 of a newer snapshot restarts the transfer; a chunk
/// of an older (or equally new, different) snapshot while a transfer is in progress is answered
/// <see cref="ChunkOutcome.Stale"/>, so its sender stops. Without that, two senders (a deposed leader whose transfer
/// kept going and the new leader) restarted each other's transfer at every offset-0 chunk, forever: the
/// deterministic simulator found this livelock. An in-progress transfer that makes no progress while
/// <see cref="MaxRefusalsWithoutProgress"/> other transfers were refused is presumed dead (its sender crashed) and the
/// next one takes over. I/O errors propagate (fail-stop). Not thread-safe.
/// </summary>
public sealed class SnapshotReceiver(SnapshotStore store) : IDisposable
{
    /// <summary>Refusals of other transfers, without a chunk of the one in progress in between, before it is abandoned.</summary>
    public const int MaxRefusalsWithoutProgress = 3;

    private readonly SnapshotStore _store = store ?? throw new ArgumentNullException(nameof(store));
    private SnapshotWriter? _writer;
    private SnapshotChunk _first;
    private int _refusalsWithoutProgress;

    /// <summary>The offset the receiver expects next (0 when no transfer is in progress).</summary>
    public long NextOffsetBytes => _writer?.LengthBytes ?? 0;

    /// <summary>The snapshot being received, if any.</summary>
    public SnapshotMetadata? InProgress => _writer?.Metadata;

    public ChunkReceipt Accept(in SnapshotChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk.Metadata);
        if (_store.Latest is { } latest && chunk.Metadata.Index <= latest.Index)
        {
            // The store may have moved past the transfer in progress too (this node published a snapshot of its own):
            // every later chunk of it is refused here, so it can never complete; drop its temp file now rather than
            // at the next transfer or restart.
            if (_writer is not null && _first.Metadata.Index <= latest.Index) Abort();
            return new ChunkReceipt(ChunkOutcome.Stale, chunk.TotalLengthBytes);
        }
        bool sameTransfer = _writer is not null
            && chunk.Metadata == _first.Metadata
            && chunk.TotalLengthBytes == _first.TotalLengthBytes
            && chunk.SnapshotCrc == _first.SnapshotCrc;
        if (!sameTransfer)
        {
            if (_writer is not null && !IsNewer(chunk.Metadata, _first.Metadata) && ++_refusalsWithoutProgress <= MaxRefusalsWithoutProgress)
            {
                return new ChunkReceipt(ChunkOutcome.Stale, chunk.TotalLengthBytes);
            }
            if (chunk.OffsetBytes != 0)
            {
                return new ChunkReceipt(ChunkOutcome.OutOfOrder, 0);
            }
            Abort();
        }
        else
        {
            _refusalsWithoutProgress = 0;
        }
        if (chunk.OffsetBytes != NextOffsetBytes)
        {
            return new ChunkReceipt(ChunkOutcome.OutOfOrder, NextOffsetBytes);
        }
        if (Crc32C.Compute(chunk.Data.Span) != chunk.ChunkCrc || chunk.OffsetBytes + chunk.Data.Length > chunk.TotalLengthBytes)
        {
            return new ChunkReceipt(ChunkOutcome.ChunkChecksumMismatch, NextOffsetBytes);
        }
        if (_writer is null)
        {
            _writer = _store.BeginWrite(chunk.Metadata);
            _first = chunk with { Data = ReadOnlyMemory<byte>.Empty };
        }
        _writer.Write(chunk.Data.Span);
        if (_writer.LengthBytes < chunk.TotalLengthBytes)
        {
            return new ChunkReceipt(ChunkOutcome.Accepted, _writer.LengthBytes);
        }
        if (_writer.DataCrc != chunk.SnapshotCrc)
        {
            Abort();
            return new ChunkReceipt(ChunkOutcome.SnapshotChecksumMismatch, 0);
        }
        SnapshotWriter writer = _writer;
        _writer = null;
        writer.Commit();
        return new ChunkReceipt(ChunkOutcome.Completed, chunk.TotalLengthBytes);
    }

    private static bool IsNewer(SnapshotMetadata candidate, SnapshotMetadata current) =>
        candidate.Index > current.Index || (candidate.Index == current.Index && candidate.Term > current.Term);

    /// <summary>Abandons a transfer in progress, deleting its temp file.</summary>
    public void Abort()
    {
        _writer?.Dispose();
        _writer = null;
        _refusalsWithoutProgress = 0;
    }

    public void Dispose() => Abort();
}
