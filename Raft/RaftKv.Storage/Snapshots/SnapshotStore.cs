using System.Buffers.Binary;
using System.Globalization;
using RaftKv.Raft;
using RaftKv.Storage.FileSystem;

namespace RaftKv.Storage.Snapshots;

/// <summary>A stored snapshot failed its checksum or does not parse. The node must not start from it.</summary>
public sealed class SnapshotCorruptionException(string path, string reason)
    : Exception($"snapshot '{path}' is corrupt: {reason}")
{
    public string Path { get; } = path;
}

/// <summary>
/// Keeps the latest state machine snapshot: its bytes (opaque to this store) and its <see cref="SnapshotMetadata"/>,
/// in one file with a whole-file CRC32C (layout: docs/wal-format.md, "Snapshot store").
/// </summary>
/// <remarks>
/// Durability contract: when <see cref="SnapshotWriter.Commit"/> returns, the new snapshot is durable and is the
/// one <see cref="Open"/> finds after any crash; before that, a crash leaves the previous snapshot in place. Publish
/// here before recording the boundary in the WAL (<see cref="Wal.WriteAheadLog.CompactTo"/>), so the WAL never
/// points at a snapshot that does not exist. Only the latest snapshot is kept. Not thread-safe.
/// </remarks>
public sealed class SnapshotStore
{
    internal const uint Magic = 0x4E534B52; // "RKSN"
    internal const uint FormatVersion = 1;
    internal const int TrailerSize = 16;
    private const string Extension = ".snap";
    private const string TempExtension = ".tmp";

    private readonly IFileSystem _fileSystem;
    private readonly string _directory;

    // Each writer gets a temp file of its own: a snapshot this node is writing and the same snapshot (same index and
    // term, so the same final name) arriving from the leader must not write into one file.
    private long _nextTempNumber;

    private SnapshotStore(IFileSystem fileSystem, string directory)
    {
        _fileSystem = fileSystem;
        _directory = directory;
    }

    /// <summary>The latest published snapshot, or null if there is none.</summary>
    public SnapshotMetadata? Latest { get; private set; }

    /// <summary>The length of the latest snapshot's data.</summary>
    public long LatestLengthBytes { get; private set; }

    /// <summary>The CRC32C of the latest snapshot's data.</summary>
    public uint LatestDataCrc { get; private set; }

    internal string? LatestPath { get; private set; }

    internal long LatestDataOffset { get; private set; }

    /// <summary>Opens the store, deleting incomplete (temp) and superseded files, and verifying the latest snapshot's checksum.</summary>
    /// <exception cref="SnapshotCorruptionException">The latest snapshot is damaged.</exception>
    public static SnapshotStore Open(IFileSystem fileSystem, string directory)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        fileSystem.CreateDirectoryDurably(directory);
        var store = new SnapshotStore(fileSystem, directory);
        var snapshots = new List<(ulong Index, string Path)>();
        bool changed = false;
        foreach (string name in fileSystem.ListFiles(directory))
        {
            string path = Path.Combine(directory, name);
            if (name.EndsWith(TempExtension, StringComparison.Ordinal))
            {
                fileSystem.DeleteFile(path);
                changed = true;
            }
            else if (TryParseName(name, out ulong index))
            {
                snapshots.Add((index, path));
            }
        }
        snapshots.Sort((a, b) => a.Index.CompareTo(b.Index));
        for (int i = 0; i < snapshots.Count - 1; i++)
        {
            fileSystem.DeleteFile(snapshots[i].Path);
            changed = true;
        }
        if (changed)
        {
            fileSystem.SyncDirectory(directory);
        }
        if (snapshots.Count > 0)
        {
            store.Load(snapshots[^1].Path);
        }
        return store;
    }

    /// <summary>Starts writing a new snapshot to a temp file; nothing is visible until <see cref="SnapshotWriter.Commit"/>.</summary>
    public SnapshotWriter BeginWrite(SnapshotMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        string finalPath = Path.Combine(_directory, FileName(metadata));
        string tempPath = string.Create(CultureInfo.InvariantCulture, $"{finalPath}.{++_nextTempNumber}{TempExtension}");
        return new SnapshotWriter(this, metadata, finalPath, tempPath, _fileSystem.Open(tempPath, FileOpenMode.OpenOrCreate));
    }

    /// <summary>Publishes a snapshot held in memory (<see cref="BeginWrite"/>, one write, commit).</summary>
    public void Save(SnapshotMetadata metadata, ReadOnlySpan<byte> data)
    {
        using SnapshotWriter writer = BeginWrite(metadata);
        writer.Write(data);
        writer.Commit();
    }

    /// <summary>Reads the latest snapshot's data bytes (the state machine payload, without framing).</summary>
    public byte[] ReadLatestData()
    {
        if (LatestPath is null)
        {
            throw new InvalidOperationException("there is no snapshot");
        }
        using IFileHandle handle = _fileSystem.Open(LatestPath, FileOpenMode.OpenExisting);
        byte[] data = new byte[LatestLengthBytes];
        if (handle.Read(LatestDataOffset, data) != data.Length)
        {
            throw new SnapshotCorruptionException(LatestPath, "file is shorter than its recorded data length");
        }
        return data;
    }

    /// <summary>Opens a read handle on the latest snapshot file, positioned by <see cref="LatestDataOffset"/>.</summary>
    internal IFileHandle OpenLatest() =>
        _fileSystem.Open(LatestPath ?? throw new InvalidOperationException("there is no snapshot"), FileOpenMode.OpenExisting);

    internal void Publish(SnapshotWriter writer, string tempPath, string finalPath, long dataOffset)
    {
        _fileSystem.Rename(tempPath, finalPath);
        _fileSystem.SyncDirectory(_directory);
        string? previous = LatestPath;
        Latest = writer.Metadata;
        LatestLengthBytes = writer.LengthBytes;
        LatestDataCrc = writer.DataCrc;
        LatestPath = finalPath;
        LatestDataOffset = dataOffset;
        if (previous is not null && previous != finalPath)
        {
            _fileSystem.DeleteFile(previous);
            _fileSystem.SyncDirectory(_directory);
        }
    }

    internal void DeleteTemp(string tempPath)
    {
        if (_fileSystem.FileExists(tempPath))
        {
            _fileSystem.DeleteFile(tempPath);
        }
    }

    internal static byte[] EncodeHeader(SnapshotMetadata metadata)
    {
        byte[] configuration = metadata.Configuration.Encode();
        byte[] header = new byte[28 + configuration.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), FormatVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), metadata.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(16), metadata.Term);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), (uint)configuration.Length);
        configuration.CopyTo(header, 28);
        return header;
    }

    private void Load(string path)
    {
        using IFileHandle handle = _fileSystem.Open(path, FileOpenMode.OpenExisting);
        SnapshotFileInfo info = SnapshotFile.Verify(path, handle.Length, handle.Read);
        Latest = info.Metadata;
        LatestLengthBytes = info.DataLengthBytes;
        LatestDataCrc = info.DataCrc;
        LatestPath = path;
        LatestDataOffset = info.DataOffset;
    }

    private static string FileName(SnapshotMetadata metadata) =>
        string.Create(CultureInfo.InvariantCulture, $"snapshot-{metadata.Index:D20}-{metadata.Term:D20}{Extension}");

    private static bool TryParseName(string name, out ulong index)
    {
        index = 0;
        return name.StartsWith("snapshot-", StringComparison.Ordinal)
            && name.EndsWith(Extension, StringComparison.Ordinal)
            && name.Length == "snapshot-".Length + 20 + 1 + 20 + Extension.Length
            && ulong.TryParse(name.AsSpan("snapshot-".Length, 20), NumberStyles.None, CultureInfo.InvariantCulture, out index);
    }
}

/// <summary>
/// Streams one snapshot into a temp file. <see cref="Commit"/> appends the trailer, fsyncs, renames to the final
/// name and fsyncs the directory; <see cref="Dispose"/> without commit deletes the temp file.
/// </summary>
public sealed class SnapshotWriter : IDisposable
{
    private readonly SnapshotStore _store;
    private readonly string _finalPath;
    private readonly string _tempPath;
    private readonly IFileHandle _handle;
    private readonly long _dataOffset;
    private uint _fileCrcState = Crc32C.InitialState;
    private uint _dataCrcState = Crc32C.InitialState;
    private bool _done;

    internal SnapshotWriter(SnapshotStore store, SnapshotMetadata metadata, string finalPath, string tempPath, IFileHandle handle)
    {
        _store = store;
        Metadata = metadata;
        _finalPath = finalPath;
        _tempPath = tempPath;
        _handle = handle;
        try
        {
            _handle.SetLength(0);
            byte[] header = SnapshotStore.EncodeHeader(metadata);
            _handle.Write(0, header);
            _fileCrcState = Crc32C.Append(_fileCrcState, header);
            _dataOffset = header.Length;
        }
        catch
        {
            _handle.Dispose();
            throw;
        }
    }

    public SnapshotMetadata Metadata { get; }

    /// <summary>Data bytes written so far.</summary>
    public long LengthBytes { get; private set; }

    /// <summary>CRC32C of the data written so far.</summary>
    public uint DataCrc => Crc32C.Finish(_dataCrcState);

    public void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        _handle.Write(_dataOffset + LengthBytes, data);
        _fileCrcState = Crc32C.Append(_fileCrcState, data);
        _dataCrcState = Crc32C.Append(_dataCrcState, data);
        LengthBytes += data.Length;
    }

    /// <summary>Makes the snapshot durable and the store's latest.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_done, this);
        Span<byte> trailer = stackalloc byte[SnapshotStore.TrailerSize];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, (ulong)LengthBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[8..], DataCrc);
        _fileCrcState = Crc32C.Append(_fileCrcState, trailer[..12]);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[12..], Crc32C.Finish(_fileCrcState));
        _handle.Write(_dataOffset + LengthBytes, trailer);
        _handle.Flush();
        _handle.Dispose();
        _done = true;
        _store.Publish(this, _tempPath, _finalPath, _dataOffset);
    }

    public void Dispose()
    {
        if (_done)
        {
            return;
        }
        _done = true;
        _handle.Dispose();
        _store.DeleteTemp(_tempPath);
    }
}
