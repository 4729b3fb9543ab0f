// WAL append throughput versus a bare append+fsync loop writing the same bytes per fsync, on the same disk, in
// the same run. Usage: dotnet run -c Release --project bench/RaftKv.Storage.Benchmarks [directory] [secondsPerCase]
using System.Diagnostics;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

string root = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "raftkv-wal-bench");
double seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 2.0;
Directory.CreateDirectory(root);

Console.WriteLine($"directory {root}, {seconds:0.#} s per case, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
Console.WriteLine();
Console.WriteLine("| entry | batch | WAL MB/s | WAL fsync/s | raw MB/s | raw fsync/s | WAL/raw |");
Console.WriteLine("|------:|------:|---------:|------------:|---------:|------------:|--------:|");
foreach (int entrySize in new[] { 128, 4096 })
{
    foreach (int batchSize in new[] { 1, 16, 256 })
    {
        // Same bytes per fsync: the raw loop writes exactly what one WAL batch puts on disk.
        int recordBytes = (12 + 17 + entrySize + 7) & ~7;
        int bytesPerSync = batchSize * recordBytes;
        // Warm up both paths once, then measure raw and WAL alternately and keep each one's better run.
        RunRaw(root, bytesPerSync, 0.3);
        RunWal(root, entrySize, batchSize, 0.3);
        Result raw1 = RunRaw(root, bytesPerSync, seconds / 2);
        Result wal1 = RunWal(root, entrySize, batchSize, seconds / 2);
        Result raw2 = RunRaw(root, bytesPerSync, seconds / 2);
        Result wal2 = RunWal(root, entrySize, batchSize, seconds / 2);
        Result raw = Best(raw1, raw2);
        Result wal = Best(wal1, wal2);
        // MB/s counts bytes written to disk per second for both, so the ratio compares like with like.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {entrySize,5} | {batchSize,5} | {wal.MegabytesPerSecond,8:0.00} | {wal.SyncsPerSecond,11:0} | {raw.MegabytesPerSecond,8:0.00} | {raw.SyncsPerSecond,11:0} | {wal.MegabytesPerSecond / raw.MegabytesPerSecond,6:0.0%} |"));
    }
}
Directory.Delete(root, recursive: true);
return 0;

static Result Best(Result a, Result b) => a.MegabytesPerSecond >= b.MegabytesPerSecond ? a : b;

static Result RunWal(string root, int entrySize, int batchSize, double seconds)
{
    string directory = Path.Combine(root, "wal-" + Guid.NewGuid().ToString("N"));
    var options = new WalOptions { SegmentSizeBytes = 64L * 1024 * 1024 };
    using WriteAheadLog wal = WriteAheadLog.Open(PhysicalFileSystem.Instance, directory, options);
    byte[] payload = new byte[entrySize];
    new Random(1).NextBytes(payload);
    var batch = new LogEntry[batchSize];
    long syncs = 0;
    long bytes = 0;
    long recordBytes = (12 + 17 + entrySize + 7) & ~7;
    var clock = Stopwatch.StartNew();
    while (clock.Elapsed.TotalSeconds < seconds)
    {
        ulong next = wal.LastIndex + 1;
        for (int i = 0; i < batchSize; i++)
        {
            batch[i] = new LogEntry(next + (ulong)i, 1, EntryType.Command, payload);
        }
        wal.Save(null, batch);
        syncs++;
        bytes += batchSize * recordBytes;
    }
    clock.Stop();
    wal.Dispose();
    Directory.Delete(directory, recursive: true);
    return new Result(bytes / clock.Elapsed.TotalSeconds / 1e6, syncs / clock.Elapsed.TotalSeconds);
}

static Result RunRaw(string root, int bytesPerSync, double seconds)
{
    string path = Path.Combine(root, "raw-" + Guid.NewGuid().ToString("N"));
    byte[] buffer = new byte[bytesPerSync];
    new Random(2).NextBytes(buffer);
    long syncs = 0;
    long offset = 0;
    using (SafeFileHandle handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite))
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            RandomAccess.Write(handle, buffer, offset);
            RandomAccess.FlushToDisk(handle);
            offset += buffer.Length;
            syncs++;
        }
        clock.Stop();
        File.Delete(path);
        return new Result(offset / clock.Elapsed.TotalSeconds / 1e6, syncs / clock.Elapsed.TotalSeconds);
    }
}

internal readonly record struct Result(double MegabytesPerSecond, double SyncsPerSecond);
