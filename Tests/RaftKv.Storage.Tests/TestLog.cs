using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

/// <summary>Shared builders and assertions for WAL tests.</summary>
internal static class TestLog
{
    public const string Directory = "/data/wal";

    public static readonly ClusterConfiguration Configuration = new([1, 2, 3]);

    public static readonly WalOptions SmallSegments = new() { SegmentSizeBytes = 2048 };

    /// <summary>A file system that never tears and never loses directory operations unless a test asks.</summary>
    public static SimulatedFileSystem CleanFileSystem(ulong seed = 1) =>
        new(new DeterministicRandom(seed), new SimulatedFileSystemOptions { TornWriteProbability = 0, ShortWriteProbability = 0 });

    /// <summary>Entry data is a pure function of (index, term, size), so any entry's content can be checked alone.</summary>
    public static LogEntry Entry(ulong index, ulong term, int sizeBytes = 24)
    {
        byte[] data = new byte[sizeBytes];
        ulong x = index * 0x9E3779B97F4A7C15UL ^ term;
        for (int i = 0; i < data.Length; i++)
        {
            x = x * 6364136223846793005UL + 1442695040888963407UL;
            data[i] = (byte)(x >> 56);
        }
        return new LogEntry(index, term, EntryType.Command, data);
    }

    public static List<LogEntry> Entries(ulong from, ulong toInclusive, ulong term, int sizeBytes = 24)
    {
        var list = new List<LogEntry>();
        for (ulong i = from; i <= toInclusive; i++)
        {
            list.Add(Entry(i, term, sizeBytes));
        }
        return list;
    }

    public static WriteAheadLog Open(IFileSystem fileSystem, WalOptions? options = null) =>
        WriteAheadLog.Open(fileSystem, Directory, options ?? new WalOptions());

    public static string SegmentPath(ulong firstIndex) => Path.Combine(Directory, $"{firstIndex:D20}.wal");

    public static IReadOnlyList<string> SegmentFiles(IFileSystem fileSystem) =>
        fileSystem.ListFiles(Directory).Where(n => n.EndsWith(".wal", StringComparison.Ordinal)).ToList();

    public static void AssertSameEntries(IReadOnlyList<LogEntry> expected, IReadOnlyList<LogEntry> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Index, actual[i].Index);
            Assert.Equal(expected[i].Term, actual[i].Term);
            Assert.Equal(expected[i].Type, actual[i].Type);
            Assert.True(expected[i].Data.Span.SequenceEqual(actual[i].Data.Span), $"data of entry {expected[i].Index} differs");
        }
    }

    public static IReadOnlyList<LogEntry> AllEntries(WriteAheadLog wal)
    {
        LogReadResult read = wal.ReadEntries(wal.FirstIndex, wal.LastIndex);
        Assert.Equal(LogReadStatus.Ok, read.Status);
        return read.Entries;
    }
}
