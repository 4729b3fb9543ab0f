using System.Globalization;
using RaftKv.Raft;
using RaftKv.Storage.FileSystem;

namespace RaftKv.Storage.Wal;

/// <summary>Recovery: replays the segments and applies the decision table of docs/wal-format.md.</summary>
public sealed partial class WriteAheadLog
{
    private void Recover()
    {
        _fileSystem.CreateDirectoryDurably(_directory);
        List<(ulong FirstIndex, string Path)> files = ListSegmentFiles();
        bool directoryChanged = false;

        for (int position = 0; position < files.Count; position++)
        {
            (ulong firstIndex, string path) = files[position];
            bool isLast = position == files.Count - 1;
            if (position == 0)
            {
                _baseIndex = firstIndex - 1;
            }
            else if (firstIndex != LastIndex + 1)
            {
                if (firstIndex > LastIndex + 1 && _lastRecordWasTruncate)
                {
                    // Row 6: an interrupted truncation; finish its deletes (descending, like the original).
                    for (int j = files.Count - 1; j >= position; j--)
                    {
                        _fileSystem.DeleteFile(files[j].Path);
                    }
                    directoryChanged = true;
                    break;
                }
                if (_tornTailOfPrevious is { } torn)
                {
                    // Row 4: the damage at the end of the previous segment mattered: the log does not continue.
                    throw new WalCorruptionException(torn.Segment.Path, torn.Offset,
                        "damaged record at the end of a segment that is not the last, and the next segment does not continue the log");
                }
                // Row 7.
                throw new WalCorruptionException(path, 0, $"expected a segment starting at index {LastIndex + 1}; a segment is missing or overlaps");
            }
            if (_tornTailOfPrevious is { } cut)
            {
                // Row 4b: a torn append to an older segment (only truncation appends there) that changed nothing the
                // later segments do not repeat. Cut it so that later appends to that segment start clean.
                cut.Segment.Handle.SetLength(cut.Offset);
                cut.Segment.Handle.Flush();
                _tornTailOfPrevious = null;
            }

            var segment = new Segment(firstIndex, path, _fileSystem.Open(path, FileOpenMode.OpenExisting));
            _segments.Add(segment);
            segment.Length = ReplaySegment(segment, isLast);
            if (isLast && segment.Length == 0)
            {
                // Row 1 / torn creation: a last segment with no valid record never held anything acknowledged.
                _segments.RemoveAt(_segments.Count - 1);
                segment.Handle.Dispose();
                _fileSystem.DeleteFile(path);
                directoryChanged = true;
            }
        }

        ulong snapshotIndex = Snapshot?.Index ?? 0;
        if (_segments.Count > 0 && _baseIndex != snapshotIndex)
        {
            // Row 8.
            throw new WalCorruptionException(_segments[0].Path, 0,
                $"entries {snapshotIndex + 1}..{_baseIndex} are missing (the first segment starts after the snapshot)");
        }

        // Row 9: an interrupted compaction. The segments to delete may hold the only durable copy of the snapshot
        // boundary or hard state (the last segment's header can be torn), so repeat both in the last segment first.
        if (_segments.Count > 1 && _segments[1].FirstIndex - 1 <= _baseIndex)
        {
            Segment last = _segments[^1];
            _buffer.Reset();
            AppendSegmentHeader(HardState);
            last.Handle.Write(last.Length, _buffer.Written);
            last.Handle.Flush();
            last.Length += _buffer.Length;
            while (_segments.Count > 1 && _segments[1].FirstIndex - 1 <= _baseIndex)
            {
                DeleteSegment(0);
                directoryChanged = true;
            }
        }

        if (_segments.Count == 0)
        {
            // Row 1: a fresh log. A snapshot can only exist here if the only segment was torn to nothing, which
            // cannot happen after the snapshot record was fsynced; start from index 1.
            _entries.Clear();
            _baseIndex = 0;
            HardState = HardState.Empty;
            Snapshot = null;
            Segment first = CreateSegment(1);
            _segments.Add(first);
            _buffer.Reset();
            AppendSegmentHeader(HardState);
            first.Handle.Write(0, _buffer.Written);
            first.Handle.Flush();
            first.Length = _buffer.Length;
            directoryChanged = true;
        }
        if (directoryChanged)
        {
            _fileSystem.SyncDirectory(_directory);
        }
    }

    private bool _lastRecordWasTruncate;
    private (Segment Segment, long Offset)? _tornTailOfPrevious;

    /// <summary>Replays one segment's records; returns the length of its valid prefix (the file is cut to it if it was the torn last segment).</summary>
    private long ReplaySegment(Segment segment, bool isLast)
    {
        long fileLength = segment.Handle.Length;
        if (fileLength > Array.MaxLength)
        {
            throw new WalCorruptionException(segment.Path, 0, $"segment is {fileLength} bytes, larger than any segment this WAL writes");
        }
        byte[] bytes = new byte[fileLength];
        int read = segment.Handle.Read(0, bytes);
        if (read != fileLength)
        {
            throw new IOException($"short read of {segment.Path}: {read} of {fileLength} bytes");
        }

        long offset = 0;
        _lastRecordWasTruncate = false;
        while (offset < fileLength)
        {
            if (!WalRecord.TryRead(bytes, offset, _options.MaxRecordSizeBytes, out WalRecordType type, out int payloadLength, out int recordSize))
            {
                long validAfter = FindValidRecordAfter(bytes, offset);
                if (validAfter >= 0)
                {
                    // Row 3.
                    throw new WalCorruptionException(segment.Path, offset,
                        $"damaged record (bad checksum or length) followed by a valid record at offset {validAfter}");
                }
                if (!isLast)
                {
                    // Row 4: decided when the next segment's start is known (a torn truncation append, or corruption).
                    _tornTailOfPrevious = (segment, offset);
                    return offset;
                }
                // Row 2: a torn tail. Cut it physically so stale bytes can never reappear behind new appends.
                segment.Handle.SetLength(offset);
                segment.Handle.Flush();
                return offset;
            }
            if (!WalRecord.IsKnownType(type))
            {
                throw new WalCorruptionException(segment.Path, offset, $"record with a valid checksum has unknown type {(byte)type}");
            }
            ApplyRecord(segment, offset, type, bytes.AsSpan((int)offset + WalRecord.HeaderSize, payloadLength), recordSize);
            _lastRecordWasTruncate = type == WalRecordType.Truncate;
            offset += recordSize;
        }
        return offset;
    }

    private void ApplyRecord(Segment segment, long offset, WalRecordType type, ReadOnlySpan<byte> payload, int recordSize)
    {
        try
        {
            switch (type)
            {
                case WalRecordType.Entry:
                    LogEntry entry = WalRecord.DecodeEntry(payload, copyData: false);
                    if (entry.Index != LastIndex + 1 || LastIndex == ulong.MaxValue)
                    {
                        throw new WalCorruptionException(segment.Path, offset, $"entry {entry.Index} does not follow last index {LastIndex}");
                    }
                    if (entry.Type == EntryType.Configuration)
                    {
                        // Raft decodes configuration entries when it is handed them (and at every restart): refuse here
                        // one it could not decode, with the file and offset, rather than fail later inside the core.
                        ClusterConfiguration.Decode(payload[WalRecord.EntryPayloadPrefixSize..]);
                    }
                    _entries.Add(new EntryLocation(segment, offset, recordSize, entry.Term));
                    break;
                case WalRecordType.HardState:
                    HardState = WalRecord.DecodeHardState(payload);
                    break;
                case WalRecordType.Snapshot:
                    (SnapshotMetadata snapshot, SnapshotMode mode) = WalRecord.DecodeSnapshot(payload);
                    if (snapshot.Index < (Snapshot?.Index ?? 0))
                    {
                        // A segment header's copy from before a newer boundary was recorded in an older segment by a
                        // cross-segment truncation; snapshots only move forward, so the newer one stands.
                        break;
                    }
                    Snapshot = snapshot;
                    if (mode == SnapshotMode.Discard || snapshot.Index >= LastIndex)
                    {
                        _entries.Clear();
                        _baseIndex = snapshot.Index;
                    }
                    else if (snapshot.Index > _baseIndex)
                    {
                        _entries.RemoveRange(0, (int)(snapshot.Index - _baseIndex));
                        _baseIndex = snapshot.Index;
                    }
                    break;
                case WalRecordType.Truncate:
                    ulong from = WalRecord.DecodeTruncate(payload);
                    if (from <= _baseIndex)
                    {
                        throw new WalCorruptionException(segment.Path, offset, $"truncation from {from} reaches into the snapshot at {_baseIndex}");
                    }
                    DropEntriesFrom(from);
                    break;
            }
        }
        catch (FormatException e)
        {
            throw new WalCorruptionException(segment.Path, offset, $"record with a valid checksum does not decode: {e.Message}");
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new WalCorruptionException(segment.Path, offset, $"record with a valid checksum is too short for its type: {e.Message}");
        }
        catch (RaftInvariantException e)
        {
            throw new WalCorruptionException(segment.Path, offset, $"record with a valid checksum does not decode: {e.Message}");
        }
    }

    private long FindValidRecordAfter(byte[] bytes, long damagedOffset)
    {
        for (long candidate = damagedOffset + WalRecord.Alignment; candidate + WalRecord.HeaderSize <= bytes.Length; candidate += WalRecord.Alignment)
        {
            if (WalRecord.TryRead(bytes, candidate, _options.MaxRecordSizeBytes, out _, out _, out _))
            {
                return candidate;
            }
        }
        return -1;
    }

    private List<(ulong FirstIndex, string Path)> ListSegmentFiles()
    {
        var files = new List<(ulong, string)>();
        foreach (string name in _fileSystem.ListFiles(_directory))
        {
            if (name.EndsWith(SegmentExtension, StringComparison.Ordinal)
                && ulong.TryParse(name.AsSpan(0, name.Length - SegmentExtension.Length), NumberStyles.None, CultureInfo.InvariantCulture, out ulong firstIndex)
                && firstIndex > 0)
            {
                files.Add((firstIndex, Path.Combine(_directory, name)));
            }
        }
        files.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return files;
    }
}
