using System.Buffers.Binary;
using System.Globalization;
using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Fuzz.Targets;

/// <summary>
/// WAL recovery. The input is a WAL directory image (<see cref="Decode"/>): segments put durably into a
/// <see cref="SimulatedFileSystem"/>, then <see cref="WriteAheadLog.Open"/>. Damage must surface as
/// <see cref="WalCorruptionException"/>. After a successful recovery the target checks that every entry reads back with a known type,
/// that one more entry can be appended, and that the recovered directory reopens to the same log.
/// </summary>
public static class WalRecoveryTarget
{
    public const string Directory = "/wal";

    /// <summary>Flag bit: recompute every record CRC the framing reaches, so mutations get past the checksum to the decoders.</summary>
    public const byte FixChecksums = 1;

    private const int MaxSegments = 8;
    private const int RecordHeaderBytes = 12;
    private const int RecordAlignmentBytes = 8;

    private static readonly WalOptions Options = new() { SegmentSizeBytes = 1024, MaxRecordSizeBytes = 64 * 1024 };

    public static FuzzOutcome Run(byte[] input)
    {
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        fileSystem.CreateDirectory(Directory);
        foreach ((ulong firstIndex, byte[] bytes) in Decode(input))
        {
            fileSystem.WriteAllBytesDurably(SegmentPath(firstIndex), bytes);
        }

        ulong lastIndex;
        HardState hardState;
        using (WriteAheadLog wal = WriteAheadLog.Open(fileSystem, Directory, Options))
        {
            LogReadResult read = wal.ReadEntries(wal.FirstIndex, wal.LastIndex);
            if (read.Status != LogReadStatus.Ok || read.Entries.Count != (int)(wal.LastIndex + 1 - wal.FirstIndex))
            {
                throw new FuzzPropertyException($"recovered entries {wal.FirstIndex}..{wal.LastIndex} do not read back: {read.Status}, {read.Entries.Count}");
            }
            foreach (LogEntry entry in read.Entries)
            {
                // Raft must never be handed an entry it cannot interpret: the WAL refuses unknown entry types.
                if (!Enum.IsDefined(entry.Type))
                {
                    throw new FuzzPropertyException($"recovered entry {entry.Index} has unknown type {(byte)entry.Type}");
                }
                if (entry.Type == EntryType.Configuration)
                {
                    Properties.ConfigurationEntryDecodes(entry);
                }
            }
            if (wal.LastIndex == ulong.MaxValue)
            {
                return FuzzOutcome.Accepted;
            }
            ulong term = read.Entries.Count > 0 ? read.Entries[^1].Term : wal.Snapshot?.Term ?? 0;
            hardState = wal.HardState with { Term = Math.Max(wal.HardState.Term, term) };
            wal.Save(hardState, [LogEntry.Command(wal.LastIndex + 1, hardState.Term, new byte[] { 42 })]);
            lastIndex = wal.LastIndex;
        }
        using (WriteAheadLog reopened = WriteAheadLog.Open(fileSystem, Directory, Options))
        {
            if (reopened.LastIndex != lastIndex || reopened.HardState != hardState)
            {
                throw new FuzzPropertyException(
                    $"reopening the recovered WAL gave last index {reopened.LastIndex} and {reopened.HardState}; expected {lastIndex} and {hardState}");
            }
        }
        return FuzzOutcome.Accepted;
    }

    public static string SegmentPath(ulong firstIndex) =>
        Path.Combine(Directory, firstIndex.ToString("D20", CultureInfo.InvariantCulture) + ".wal");

    /// <summary>
    /// Image layout: [flags u8] then up to 8 segments, each [first index u64][length u32][bytes]. A length past the end
    /// takes what is left. With <see cref="FixChecksums"/> set, record CRCs are recomputed where the framing reaches.
    /// </summary>
    public static List<(ulong FirstIndex, byte[] Bytes)> Decode(ReadOnlySpan<byte> input)
    {
        var segments = new List<(ulong, byte[])>();
        if (input.Length == 0)
        {
            return segments;
        }
        bool fix = (input[0] & FixChecksums) != 0;
        int offset = 1;
        while (segments.Count < MaxSegments && input.Length - offset >= 12)
        {
            ulong firstIndex = BinaryPrimitives.ReadUInt64LittleEndian(input[offset..]);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(input[(offset + 8)..]);
            offset += 12;
            int take = (int)Math.Min(length, (uint)(input.Length - offset));
            byte[] bytes = input.Slice(offset, take).ToArray();
            offset += take;
            if (fix)
            {
                FixRecordChecksums(bytes);
            }
            segments.Add((firstIndex, bytes));
        }
        return segments;
    }

    public static byte[] Encode(byte flags, IEnumerable<(ulong FirstIndex, byte[] Bytes)> segments)
    {
        using var stream = new MemoryStream();
        stream.WriteByte(flags);
        Span<byte> header = stackalloc byte[12];
        foreach ((ulong firstIndex, byte[] bytes) in segments)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(header, firstIndex);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)bytes.Length);
            stream.Write(header);
            stream.Write(bytes);
        }
        return stream.ToArray();
    }

    /// <summary>Walks the record framing (docs/wal-format.md) and rewrites each CRC it reaches; stops at the first record it cannot frame.</summary>
    private static void FixRecordChecksums(Span<byte> segment)
    {
        int offset = 0;
        while (segment.Length - offset >= RecordHeaderBytes)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(segment[(offset + 4)..]);
            if (segment[offset + 8] == 0 || length > (uint)Options.MaxRecordSizeBytes)
            {
                return;
            }
            int size = (RecordHeaderBytes + (int)length + RecordAlignmentBytes - 1) & ~(RecordAlignmentBytes - 1);
            if (segment.Length - offset < size)
            {
                return;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(segment[offset..], Crc32C.Compute(segment.Slice(offset + 4, size - 4)));
            offset += size;
        }
    }

    /// <summary>Real WALs written through the public API: fresh, with entries, rolled, compacted, truncated, and snapshotted.</summary>
    public static IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        yield return ("fresh", Image(_ => { }));
        yield return ("entries", Image(wal =>
        {
            wal.Save(new HardState(1, 1, 0), [Entry(1, 1, "a"), Entry(2, 1, "bb"), Entry(3, 1, "ccc")]);
            wal.Save(new HardState(1, 1, 2), []);
        }));
        yield return ("conflict-truncate", Image(wal =>
        {
            wal.Save(new HardState(1, 1, 0), [Entry(1, 1, "a"), Entry(2, 1, "b"), Entry(3, 1, "c")]);
            wal.Save(new HardState(2, 2, 1), [Entry(2, 2, "x")]);
        }));
        yield return ("rolled-segments", Image(wal =>
        {
            for (ulong i = 1; i <= 12; i++)
            {
                wal.Save(new HardState(1, 1, i - 1), [Entry(i, 1, new string('v', 200))]);
            }
        }));
        yield return ("compacted", Image(wal =>
        {
            for (ulong i = 1; i <= 8; i++)
            {
                wal.Save(new HardState(1, 1, i - 1), [Entry(i, 1, new string('w', 300))]);
            }
            wal.CompactTo(new SnapshotMetadata(5, 1, new ClusterConfiguration([1, 2, 3])));
        }));
        yield return ("installed-snapshot", Image(wal =>
        {
            wal.Save(new HardState(1, 1, 0), [Entry(1, 1, "a")]);
            wal.InstallSnapshot(new SnapshotMetadata(10, 3, new ClusterConfiguration([1, 2, 3], [4])));
            wal.Save(new HardState(3, 2, 10), [Entry(11, 3, "after")]);
        }));
        yield return ("configuration-entry", Image(wal =>
            wal.Save(new HardState(1, 1, 0), [new LogEntry(1, 1, EntryType.Configuration, new ClusterConfiguration([1, 2]).Encode()), new LogEntry(2, 1, EntryType.NoOp, default)])));
    }

    private static LogEntry Entry(ulong index, ulong term, string data) => LogEntry.Command(index, term, System.Text.Encoding.UTF8.GetBytes(data));

    private static byte[] Image(Action<WriteAheadLog> write)
    {
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        using (WriteAheadLog wal = WriteAheadLog.Open(fileSystem, Directory, Options))
        {
            write(wal);
        }
        var segments = new List<(ulong, byte[])>();
        foreach (string name in fileSystem.ListFiles(Directory))
        {
            ulong firstIndex = ulong.Parse(name.AsSpan(0, 20), CultureInfo.InvariantCulture);
            segments.Add((firstIndex, fileSystem.ReadAllBytes(Path.Combine(Directory, name))));
        }
        return Encode(FixChecksums, segments);
    }
}
