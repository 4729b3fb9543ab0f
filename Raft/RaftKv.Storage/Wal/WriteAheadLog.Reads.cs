using System.Buffers;
using RaftKv.Raft;

namespace RaftKv.Storage.Wal;

/// <summary>Why <see cref="WriteAheadLog.ReadEntries"/> could not return every entry asked for.</summary>
public enum LogReadStatus
{
    /// <summary>All requested entries are in <see cref="LogReadResult.Entries"/>.</summary>
    Ok = 0,

    /// <summary>Some requested entries are covered by the snapshot; send the snapshot instead.</summary>
    Compacted = 1,

    /// <summary>Some requested entries are beyond <see cref="WriteAheadLog.LastIndex"/>.</summary>
    Unavailable = 2,
}

/// <summary>The outcome of a log read: entries only when <see cref="Status"/> is <see cref="LogReadStatus.Ok"/>.</summary>
public readonly record struct LogReadResult(LogReadStatus Status, IReadOnlyList<LogEntry> Entries);

/// <summary>Reads: terms from memory, entries from the segment files with their CRC checked.</summary>
public sealed partial class WriteAheadLog
{
    /// <summary>The term of the entry at <paramref name="index"/>, including the snapshot's last entry; false if compacted away or beyond the log.</summary>
    public bool TryGetTerm(ulong index, out ulong term)
    {
        ThrowIfUnusable();
        if (index == _baseIndex)
        {
            term = Snapshot?.Term ?? 0;
            return true;
        }
        if (index < _baseIndex || index > LastIndex)
        {
            term = 0;
            return false;
        }
        term = _entries[(int)(index - _baseIndex - 1)].Term;
        return true;
    }

    /// <summary>Reads entries <paramref name="fromIndex"/>..<paramref name="toIndexInclusive"/>. A checksum mismatch is fail-stop corruption.</summary>
    public LogReadResult ReadEntries(ulong fromIndex, ulong toIndexInclusive)
    {
        ThrowIfUnusable();
        if (fromIndex > toIndexInclusive)
        {
            return new LogReadResult(LogReadStatus.Ok, []);
        }
        if (fromIndex <= _baseIndex)
        {
            return new LogReadResult(LogReadStatus.Compacted, []);
        }
        if (toIndexInclusive > LastIndex)
        {
            return new LogReadResult(LogReadStatus.Unavailable, []);
        }

        var result = new LogEntry[toIndexInclusive - fromIndex + 1];
        int first = (int)(fromIndex - _baseIndex - 1);
        int next = 0;
        while (next < result.Length)
        {
            // One read per run of entries in the same segment.
            EntryLocation start = _entries[first + next];
            int runEnd = next;
            while (runEnd + 1 < result.Length && _entries[first + runEnd + 1].Segment == start.Segment)
            {
                runEnd++;
            }
            EntryLocation end = _entries[first + runEnd];
            long spanLength = end.Offset + end.RecordSize - start.Offset;
            if (spanLength > Array.MaxLength)
            {
                runEnd = next;
                end = start;
                spanLength = start.RecordSize;
            }
            byte[] buffer = ArrayPool<byte>.Shared.Rent((int)spanLength);
            try
            {
                int read = start.Segment.Handle.Read(start.Offset, buffer.AsSpan(0, (int)spanLength));
                for (int k = next; k <= runEnd; k++)
                {
                    EntryLocation location = _entries[first + k];
                    long relative = location.Offset - start.Offset;
                    if (!WalRecord.TryRead(buffer.AsSpan(0, read), relative, _options.MaxRecordSizeBytes, out WalRecordType type, out int payloadLength, out _)
                        || type != WalRecordType.Entry)
                    {
                        _failed = true;
                        throw new WalCorruptionException(location.Segment.Path, location.Offset, "entry record fails its checksum on read");
                    }
                    result[k] = WalRecord.DecodeEntry(buffer.AsSpan((int)relative + WalRecord.HeaderSize, payloadLength), copyData: true);
                }
            }
            catch (IOException)
            {
                _failed = true;
                throw;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            next = runEnd + 1;
        }
        return new LogReadResult(LogReadStatus.Ok, result);
    }

    /// <summary>Everything a restarting node needs: hard state, snapshot boundary and every entry after it.</summary>
    public PersistentState ReadPersistentState()
    {
        LogReadResult entries = ReadEntries(FirstIndex, LastIndex);
        Invariant.Check(entries.Status == LogReadStatus.Ok, "the WAL cannot read its own entries");
        return new PersistentState
        {
            HardState = HardState,
            Snapshot = Snapshot,
            Entries = entries.Entries,
            AppliedIndex = Snapshot?.Index ?? 0,
        };
    }
}
