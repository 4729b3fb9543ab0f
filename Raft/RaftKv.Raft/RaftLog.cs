namespace RaftKv.Raft;

/// <summary>
/// The in-memory Raft log: a snapshot boundary followed by every entry not yet compacted. The core keeps the
/// uncompacted log in memory (bounded by the snapshot threshold) so that it never reads storage: replication is
/// served from here, and storage is written only through <see cref="Ready"/>.
/// </summary>
/// <remarks>
/// Invariant: SnapshotIndex &lt;= Applied &lt;= Committed &lt;= LastIndex.
/// Invariant: SnapshotIndex &lt;= Stable &lt;= LastIndex; entries after Stable are not yet known to be durable.
/// Invariant: _entries[i].Index == SnapshotIndex + 1 + i, and terms never decrease along the log.
/// </remarks>
internal sealed class RaftLog
{
    private readonly List<LogEntry> _entries = [];

    public RaftLog(SnapshotMetadata snapshot)
    {
        Snapshot = snapshot;
        Committed = Applied = Stable = snapshot.Index;
    }

    /// <summary>The latest snapshot: everything through its index is compacted away.</summary>
    public SnapshotMetadata Snapshot { get; private set; }

    public ulong SnapshotIndex => Snapshot.Index;

    public ulong Committed { get; private set; }

    public ulong Applied { get; private set; }

    /// <summary>The last index known to be on this node's stable storage.</summary>
    public ulong Stable { get; private set; }

    public ulong FirstIndex => SnapshotIndex + 1;

    public ulong LastIndex => SnapshotIndex + (ulong)_entries.Count;

    public ulong LastTerm => _entries.Count > 0 ? _entries[^1].Term : Snapshot.Term;

    /// <summary>Approximate bytes held by uncompacted entries: the driver compacts when this grows too large.</summary>
    public long SizeBytes { get; private set; }

    /// <summary>The term of the entry at <paramref name="index"/>, or null if it is compacted or beyond the end.</summary>
    public ulong? TermAt(ulong index)
    {
        if (index == SnapshotIndex) return Snapshot.Term;
        if (index < SnapshotIndex || index > LastIndex) return null;
        return _entries[(int)(index - FirstIndex)].Term;
    }

    public bool MatchTerm(ulong index, ulong term) => TermAt(index) == term;

    public LogEntry EntryAt(ulong index)
    {
        Invariant.Check(index >= FirstIndex && index <= LastIndex, $"entry {index} is outside [{FirstIndex}, {LastIndex}]");
        return _entries[(int)(index - FirstIndex)];
    }

    /// <summary>Raft thesis 3.6.1: a candidate's log is at least as up-to-date as ours.</summary>
    public bool IsUpToDate(ulong lastIndex, ulong lastTerm) =>
        lastTerm > LastTerm || (lastTerm == LastTerm && lastIndex >= LastIndex);

    public void Append(LogEntry entry)
    {
        Invariant.Check(entry.Index == LastIndex + 1, $"append of {entry.Index} after last index {LastIndex}");
        Invariant.Check(entry.Term >= LastTerm, $"append of term {entry.Term} after term {LastTerm}");
        _entries.Add(entry);
        SizeBytes += entry.SizeBytes;
    }

    /// <summary>Removes every entry at or after <paramref name="index"/>; committed entries are never removed.</summary>
    public void TruncateFrom(ulong index)
    {
        Invariant.Check(index > Committed, $"truncation at {index} would remove committed entries (commit {Committed})");
        Invariant.Check(index > SnapshotIndex && index <= LastIndex + 1, $"truncation at {index} outside the log");
        int from = (int)(index - FirstIndex);
        for (int i = from; i < _entries.Count; i++) SizeBytes -= _entries[i].SizeBytes;
        _entries.RemoveRange(from, _entries.Count - from);
        Stable = Math.Min(Stable, index - 1);
    }

    /// <summary>Entries in [from, to], stopping early once <paramref name="maxBytes"/> is exceeded (always at least one).</summary>
    public List<LogEntry> Slice(ulong from, ulong to, int maxBytes)
    {
        if (from > to) return [];
        Invariant.Check(from >= FirstIndex && to <= LastIndex, $"slice [{from}, {to}] outside [{FirstIndex}, {LastIndex}]");
        int start = (int)(from - FirstIndex);
        int last = (int)(to - FirstIndex);
        int count = 0;
        long bytes = 0;
        for (int i = start; i <= last; i++)
        {
            bytes += _entries[i].SizeBytes;
            if (count > 0 && bytes > maxBytes) break;
            count++;
        }
        // One array of the right size (a growing list reallocated its array about log2(count) times per slice).
        return _entries.GetRange(start, count);
    }

    /// <summary>Entries not yet known to be durable.</summary>
    public List<LogEntry> UnstableEntries() => Stable >= LastIndex ? [] : Slice(Stable + 1, LastIndex, int.MaxValue);

    /// <summary>Committed entries that are durable here and not yet handed out for applying.</summary>
    public List<LogEntry> EntriesToApply()
    {
        ulong upTo = Math.Min(Committed, Stable);
        return upTo > Applied ? Slice(Applied + 1, upTo, int.MaxValue) : [];
    }

    /// <summary>The first index of the run of entries with the same term as the entry at <paramref name="index"/>.</summary>
    public ulong FirstIndexOfTermAt(ulong index)
    {
        ulong term = TermAt(index) ?? throw new RaftInvariantException($"no term at {index}");
        ulong first = index;
        while (first > FirstIndex && TermAt(first - 1) == term) first--;
        return first;
    }

    /// <summary>The last index at or below <paramref name="atMost"/> holding an entry of <paramref name="term"/>, if any.</summary>
    public ulong? LastIndexOfTerm(ulong term, ulong atMost)
    {
        for (ulong i = Math.Min(atMost, LastIndex); i >= FirstIndex; i--)
        {
            ulong t = _entries[(int)(i - FirstIndex)].Term;
            if (t == term) return i;
            if (t < term) return null; // terms never decrease along the log
        }
        return null;
    }

    public void CommitTo(ulong index)
    {
        if (index <= Committed) return;
        Invariant.Check(index <= LastIndex, $"commit {index} beyond last index {LastIndex}");
        Committed = index;
    }

    public void AppliedTo(ulong index)
    {
        Invariant.Check(index >= Applied && index <= Committed, $"applied {index} outside [{Applied}, {Committed}]");
        Applied = index;
    }

    /// <summary>Marks entries through <paramref name="index"/> durable, unless that entry was replaced meanwhile.</summary>
    public void StableTo(ulong index, ulong term)
    {
        if (index > Stable && MatchTerm(index, term)) Stable = index;
    }

    /// <summary>Drops entries covered by a snapshot this node took itself (index &lt;= Applied).</summary>
    public void Compact(SnapshotMetadata snapshot)
    {
        Invariant.Check(snapshot.Index <= Applied, $"compaction to {snapshot.Index} beyond applied {Applied}");
        if (snapshot.Index <= SnapshotIndex) return;
        Invariant.Check(MatchTerm(snapshot.Index, snapshot.Term), $"snapshot term {snapshot.Term} differs from the log at {snapshot.Index}");
        int covered = (int)(snapshot.Index - SnapshotIndex);
        for (int i = 0; i < covered; i++) SizeBytes -= _entries[i].SizeBytes;
        _entries.RemoveRange(0, covered);
        Snapshot = snapshot;
    }

    /// <summary>Replaces the whole log with a snapshot received from the leader (Raft thesis 5.3).</summary>
    public void Restore(SnapshotMetadata snapshot)
    {
        Invariant.Check(snapshot.Index > Committed, $"restoring snapshot {snapshot.Index} at or below commit {Committed}");
        _entries.Clear();
        SizeBytes = 0;
        Snapshot = snapshot;
        Committed = Applied = Stable = snapshot.Index;
    }

    /// <summary>Loads recovered state at start-up: entries after the snapshot are all durable.</summary>
    public void LoadRecovered(IReadOnlyList<LogEntry> entries, ulong commitHint, ulong appliedIndex)
    {
        foreach (LogEntry entry in entries)
        {
            Append(entry);
        }
        Stable = LastIndex;
        Invariant.Check(appliedIndex <= LastIndex, $"state machine applied {appliedIndex} beyond the durable log {LastIndex}");
        // The stored commit is a hint written beside the entries; entries applied are committed by definition.
        Committed = Math.Max(SnapshotIndex, Math.Max(appliedIndex, Math.Min(commitHint, LastIndex)));
        Applied = Math.Max(SnapshotIndex, appliedIndex);
    }

    /// <summary>All entries in memory (tests and the simulator's checkers read them).</summary>
    public IReadOnlyList<LogEntry> Entries => _entries;
}
