using System.Diagnostics;
using System.Globalization;
using RaftKv.Raft;
using RaftKv.Storage.FileSystem;

namespace RaftKv.Storage.Wal;

/// <summary>What recording a snapshot boundary did to the log.</summary>
public enum SnapshotBoundaryOutcome
{
    /// <summary>The snapshot is not newer than the one already recorded; nothing changed.</summary>
    Stale = 0,

    /// <summary>The log held the snapshot's last entry; entries after it were kept.</summary>
    RetainedSuffix = 1,

    /// <summary>The log did not hold the snapshot's last entry (or conflicted with it); the whole log was discarded.</summary>
    DiscardedLog = 2,
}

/// <summary>
/// The write-ahead log of one Raft node: hard state, log entries and the snapshot boundary, in segment files
/// (format and recovery rules: docs/wal-format.md).
/// </summary>
/// <remarks>
/// <para>Durability contract: when <see cref="Save"/>, <see cref="CompactTo"/> or <see cref="InstallSnapshot"/>
/// returns, everything it was given is on stable storage (fsynced, including the directory entry of any new
/// segment) and will be recovered by <see cref="Open"/> after any crash. If it throws, the outcome is unknown:
/// after a crash, recovery yields either the state before the call or a state with a prefix of its records applied,
/// never anything else.</para>
/// <para>I/O errors after <see cref="Open"/> are fail-stop: the call throws and every later call throws
/// <see cref="InvalidOperationException"/>; the node must restart and recover. Not thread-safe: one instance per
/// directory, used by one thread (the node's driver loop).</para>
/// </remarks>
public sealed partial class WriteAheadLog : IDisposable
{
    private const string SegmentExtension = ".wal";

    private readonly IFileSystem _fileSystem;
    private readonly string _directory;
    private readonly WalOptions _options;
    private readonly WalRecordBuffer _buffer = new();
    private readonly List<int> _pendingEntryOffsets = [];

    // Invariant: segment FirstIndex values strictly increase; the last segment is the only one appended to.
    private readonly List<Segment> _segments = [];

    // Invariant: _entries[k] is the location of entry _baseIndex + 1 + k; _baseIndex == Snapshot?.Index ?? 0 after Open.
    private readonly List<EntryLocation> _entries = [];
    private ulong _baseIndex;
    private readonly WalMetrics? _metrics;
    private bool _failed;
    private bool _disposed;

    private WriteAheadLog(IFileSystem fileSystem, string directory, WalOptions options, WalMetrics? metrics)
    {
        _fileSystem = fileSystem;
        _directory = directory;
        _options = options;
        _metrics = metrics;
    }

    /// <summary>The latest durable hard state (term, vote, commit hint).</summary>
    public HardState HardState { get; private set; } = HardState.Empty;

    /// <summary>The latest durable snapshot boundary, or null if the log was never compacted.</summary>
    public SnapshotMetadata? Snapshot { get; private set; }

    /// <summary>The index of the first entry held (Snapshot.Index + 1). Greater than <see cref="LastIndex"/> when the log is empty.</summary>
    public ulong FirstIndex => _baseIndex + 1;

    /// <summary>The index of the last entry held, or the snapshot index when the log is empty.</summary>
    public ulong LastIndex => _baseIndex + (ulong)_entries.Count;

    /// <summary>How many segment files the log currently uses.</summary>
    public int SegmentCount => _segments.Count;

    /// <summary>
    /// Opens the WAL in <paramref name="directory"/> (creating an empty one if there is none), recovering after a
    /// crash: a torn tail is cut, leftovers of an interrupted truncation or compaction are finished.
    /// </summary>
    /// <param name="metrics">Where to record write and fsync latency, bytes and segments; null records nothing.</param>
    /// <exception cref="WalCorruptionException">Damage a crash cannot explain; the node must not start.</exception>
    public static WriteAheadLog Open(IFileSystem fileSystem, string directory, WalOptions options, WalMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid WAL options: " + string.Join("; ", errors), nameof(options));
        }
        var wal = new WriteAheadLog(fileSystem, directory, options, metrics);
        try
        {
            wal.Recover();
        }
        catch
        {
            wal.Dispose();
            throw;
        }
        metrics?.Attach(() => wal._segments.Count);
        return wal;
    }

    /// <summary>
    /// Appends <paramref name="entries"/> and records <paramref name="hardState"/> (if given) with one fsync (group
    /// commit). If the first entry's index is at or below <see cref="LastIndex"/>, the stored entries from that index
    /// on are discarded first (a conflicting suffix, Raft thesis 3.5).
    /// </summary>
    /// <param name="entries">Contiguous entries; the first index must be in [<see cref="FirstIndex"/>, <see cref="LastIndex"/> + 1].</param>
    public void Save(HardState? hardState, IReadOnlyList<LogEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ThrowIfUnusable();
        ValidateEntries(entries);
        if (hardState is null && entries.Count == 0)
        {
            return;
        }
        try
        {
            _buffer.Reset();
            _pendingEntryOffsets.Clear();
            bool truncateInActive = false;
            if (entries.Count > 0 && entries[0].Index <= LastIndex)
            {
                ulong from = entries[0].Index;
                Segment keep = SegmentForIndex(from);
                if (keep == ActiveSegment)
                {
                    _buffer.AppendTruncate(from);
                    truncateInActive = true;
                }
                else
                {
                    TruncateAcrossSegments(keep, from);
                }
            }

            ulong lastIndexAfterTruncate = entries.Count > 0 ? entries[0].Index - 1 : LastIndex;
            bool roll = !truncateInActive
                && ActiveSegment.Length >= _options.SegmentSizeBytes
                && lastIndexAfterTruncate + 1 > ActiveSegment.FirstIndex;
            HardState newHardState = hardState ?? HardState;
            if (roll)
            {
                AppendSegmentHeader(newHardState);
            }
            else if (hardState is { } given)
            {
                _buffer.AppendHardState(given);
            }
            foreach (LogEntry entry in entries)
            {
                _pendingEntryOffsets.Add(_buffer.AppendEntry(entry));
            }

            Segment target;
            long writeStart = Stopwatch.GetTimestamp();
            if (roll)
            {
                target = CreateSegment(lastIndexAfterTruncate + 1);
                target.Handle.Write(0, _buffer.Written);
                _metrics?.Written(writeStart, _buffer.Length);
                long syncStart = Stopwatch.GetTimestamp();
                target.Handle.Flush();
                _fileSystem.SyncDirectory(_directory);
                _metrics?.Synced(syncStart);
            }
            else
            {
                target = ActiveSegment;
                target.Handle.Write(target.Length, _buffer.Written);
                _metrics?.Written(writeStart, _buffer.Length);
                long syncStart = Stopwatch.GetTimestamp();
                target.Handle.Flush();
                _metrics?.Synced(syncStart);
            }

            // Durable from here on; now make memory agree.
            long writeOffset = roll ? 0 : target.Length;
            target.Length = writeOffset + _buffer.Length;
            if (roll)
            {
                _segments.Add(target);
            }
            if (truncateInActive || (entries.Count > 0 && entries[0].Index <= LastIndex))
            {
                DropEntriesFrom(entries[0].Index);
            }
            for (int i = 0; i < entries.Count; i++)
            {
                int payloadLength = WalRecord.EntryPayloadPrefixSize + entries[i].Data.Length;
                _entries.Add(new EntryLocation(target, writeOffset + _pendingEntryOffsets[i], WalRecord.RecordSize(payloadLength), entries[i].Term));
            }
            HardState = newHardState;
        }
        catch (Exception)
        {
            _failed = true;
            throw;
        }
    }

    /// <summary>
    /// Records that the local state machine has a durable snapshot through <paramref name="snapshot"/>.Index (which
    /// this log holds with the same term), drops the entries it covers, and deletes whole segments below it.
    /// Publish the snapshot (<see cref="Snapshots.SnapshotStore"/>) before calling this.
    /// </summary>
    public SnapshotBoundaryOutcome CompactTo(SnapshotMetadata snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ThrowIfUnusable();
        if (snapshot.Index <= (Snapshot?.Index ?? 0))
        {
            return SnapshotBoundaryOutcome.Stale;
        }
        if (snapshot.Index > LastIndex || !TryGetTerm(snapshot.Index, out ulong term) || term != snapshot.Term)
        {
            throw new ArgumentException($"cannot compact to {snapshot}: the log does not hold that entry (last index {LastIndex})", nameof(snapshot));
        }
        return RecordSnapshot(snapshot, SnapshotMode.Retain);
    }

    /// <summary>
    /// Records a snapshot received from the leader (InstallSnapshot, Raft thesis 5.1 / figure 5.3): if the log holds
    /// the snapshot's last entry with the same term, the entries after it are kept; otherwise the whole log is
    /// discarded. Whole segments below the snapshot are deleted. Publish the snapshot before calling this.
    /// </summary>
    public SnapshotBoundaryOutcome InstallSnapshot(SnapshotMetadata snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ThrowIfUnusable();
        if (snapshot.Index <= (Snapshot?.Index ?? 0))
        {
            return SnapshotBoundaryOutcome.Stale;
        }
        if (snapshot.Index <= LastIndex && TryGetTerm(snapshot.Index, out ulong term) && term == snapshot.Term)
        {
            return RecordSnapshot(snapshot, SnapshotMode.Retain);
        }
        return RecordSnapshot(snapshot, SnapshotMode.Discard);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (Segment segment in _segments)
        {
            segment.Handle.Dispose();
        }
        _segments.Clear();
    }

    private Segment ActiveSegment => _segments[^1];

    private SnapshotBoundaryOutcome RecordSnapshot(SnapshotMetadata snapshot, SnapshotMode mode)
    {
        try
        {
            if (mode == SnapshotMode.Discard && snapshot.Index + 1 <= LastIndex)
            {
                // Physically drop later segments whose names would otherwise sort after the restarted log.
                Segment keep = SegmentForIndex(snapshot.Index + 1);
                if (keep != ActiveSegment)
                {
                    TruncateAcrossSegments(keep, snapshot.Index + 1);
                }
            }
            _buffer.Reset();
            _buffer.AppendSnapshot(snapshot, mode);
            Segment active = ActiveSegment;
            active.Handle.Write(active.Length, _buffer.Written);
            active.Handle.Flush();
            active.Length += _buffer.Length;

            if (mode == SnapshotMode.Discard)
            {
                _entries.Clear();
            }
            else
            {
                _entries.RemoveRange(0, (int)(snapshot.Index - _baseIndex));
            }
            _baseIndex = snapshot.Index;
            Snapshot = snapshot;
            DeleteSegmentsBelowSnapshot();
            return mode == SnapshotMode.Retain ? SnapshotBoundaryOutcome.RetainedSuffix : SnapshotBoundaryOutcome.DiscardedLog;
        }
        catch (Exception)
        {
            _failed = true;
            throw;
        }
    }

    /// <summary>
    /// Drops entries from <paramref name="from"/> on when they start before the active segment: K (<paramref name="keep"/>)
    /// gets the current hard state, snapshot and a Truncate record (fsynced), then the later segments are deleted
    /// (descending) and the directory fsynced. Recovery finishes an interrupted run (table row 6).
    /// </summary>
    private void TruncateAcrossSegments(Segment keep, ulong from)
    {
        _buffer.Reset();
        _buffer.AppendHardState(HardState);
        if (Snapshot is { } snapshot)
        {
            _buffer.AppendSnapshot(snapshot, SnapshotMode.Retain);
        }
        _buffer.AppendTruncate(from);
        keep.Handle.Write(keep.Length, _buffer.Written);
        keep.Handle.Flush();
        keep.Length += _buffer.Length;
        DropEntriesFrom(from);
        int keepPosition = _segments.IndexOf(keep);
        for (int i = _segments.Count - 1; i > keepPosition; i--)
        {
            DeleteSegment(i);
        }
        _fileSystem.SyncDirectory(_directory);
        _buffer.Reset();
    }

    /// <summary>Deletes every segment but the last whose entries are all covered by the snapshot (ascending, so a crash leaves a suffix).</summary>
    private void DeleteSegmentsBelowSnapshot()
    {
        bool deleted = false;
        while (_segments.Count > 1 && _segments[1].FirstIndex - 1 <= _baseIndex)
        {
            DeleteSegment(0);
            deleted = true;
        }
        if (deleted)
        {
            _fileSystem.SyncDirectory(_directory);
        }
    }

    private void DeleteSegment(int position)
    {
        Segment segment = _segments[position];
        segment.Handle.Dispose();
        _fileSystem.DeleteFile(segment.Path);
        _segments.RemoveAt(position);
        _metrics?.SegmentDeleted();
    }

    private void DropEntriesFrom(ulong from)
    {
        if (from <= LastIndex)
        {
            int keep = (int)(from - _baseIndex - 1);
            _entries.RemoveRange(keep, _entries.Count - keep);
        }
    }

    /// <summary>The last segment whose first index is at or below <paramref name="index"/>.</summary>
    private Segment SegmentForIndex(ulong index)
    {
        for (int i = _segments.Count - 1; i > 0; i--)
        {
            if (_segments[i].FirstIndex <= index)
            {
                return _segments[i];
            }
        }
        return _segments[0];
    }

    private void AppendSegmentHeader(HardState hardState)
    {
        _buffer.AppendHardState(hardState);
        if (Snapshot is { } snapshot)
        {
            _buffer.AppendSnapshot(snapshot, SnapshotMode.Retain);
        }
    }

    private Segment CreateSegment(ulong firstIndex)
    {
        string path = Path.Combine(_directory, firstIndex.ToString("D20", CultureInfo.InvariantCulture) + SegmentExtension);
        var segment = new Segment(firstIndex, path, _fileSystem.Open(path, FileOpenMode.CreateNew));
        _metrics?.SegmentCreated();
        return segment;
    }

    private void ValidateEntries(IReadOnlyList<LogEntry> entries)
    {
        if (entries.Count == 0)
        {
            return;
        }
        ulong first = entries[0].Index;
        if (first < FirstIndex || first > LastIndex + 1)
        {
            throw new ArgumentException($"entries start at {first}; must be in [{FirstIndex}, {LastIndex + 1}]", nameof(entries));
        }
        for (int i = 0; i < entries.Count; i++)
        {
            if (entries[i].Index != first + (ulong)i)
            {
                throw new ArgumentException($"entries are not contiguous at position {i} (index {entries[i].Index})", nameof(entries));
            }
            if (WalRecord.EntryPayloadPrefixSize + entries[i].Data.Length > _options.MaxRecordSizeBytes)
            {
                throw new ArgumentException($"entry {entries[i].Index} is larger than {nameof(WalOptions.MaxRecordSizeBytes)}", nameof(entries));
            }
        }
    }

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failed)
        {
            throw new InvalidOperationException("the WAL failed an I/O operation and is fail-stop; restart the node and reopen it");
        }
    }

    private sealed class Segment(ulong firstIndex, string path, IFileHandle handle)
    {
        public ulong FirstIndex { get; } = firstIndex;

        public string Path { get; } = path;

        public IFileHandle Handle { get; } = handle;

        /// <summary>Bytes written and fsynced; appends go here.</summary>
        public long Length { get; set; }
    }

    private readonly record struct EntryLocation(Segment Segment, long Offset, int RecordSize, ulong Term);
}
