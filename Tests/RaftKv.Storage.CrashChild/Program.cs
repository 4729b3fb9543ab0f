// Crash-test child: opens (recovers) a WAL on the real disk and appends batches forever. After each Save returns it
// prints "ack <lastIndex>" and flushes stdout, so every printed index is a promise the parent checks after SIGKILL.
// Usage: RaftKv.Storage.CrashChild <directory> <seed>
using System.Globalization;
using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: RaftKv.Storage.CrashChild <directory> <seed>");
    return 2;
}
string directory = args[0];
var random = new DeterministicRandom(ulong.Parse(args[1], CultureInfo.InvariantCulture));
var configuration = new ClusterConfiguration([1, 2, 3]);
using WriteAheadLog wal = WriteAheadLog.Open(PhysicalFileSystem.Instance, directory, new WalOptions { SegmentSizeBytes = 256 * 1024 });
Console.Out.WriteLine($"open {wal.FirstIndex} {wal.LastIndex}");
Console.Out.Flush();
var batch = new List<LogEntry>();
while (true)
{
    batch.Clear();
    ulong next = wal.LastIndex + 1;
    int count = random.Next(1, 65);
    for (int i = 0; i < count; i++)
    {
        batch.Add(CrashChildData.Entry(next + (ulong)i, random.Next(0, 600)));
    }
    wal.Save(new HardState(1, 1, wal.LastIndex), batch);
    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ack {wal.LastIndex}"));
    Console.Out.Flush();
    if (wal.LastIndex - wal.FirstIndex > 4000)
    {
        ulong index = wal.LastIndex - 1000;
        wal.CompactTo(new SnapshotMetadata(index, 1, configuration));
    }
}

/// <summary>Entry content is a pure function of (index, size); the parent test recomputes it to check what survived.</summary>
internal static class CrashChildData
{
    public static LogEntry Entry(ulong index, int sizeBytes)
    {
        byte[] data = new byte[sizeBytes + 8];
        BitConverter.TryWriteBytes(data, index);
        for (int i = 8; i < data.Length; i++)
        {
            data[i] = (byte)(index * 131 + (ulong)i);
        }
        return new LogEntry(index, 1, EntryType.Command, data);
    }
}
