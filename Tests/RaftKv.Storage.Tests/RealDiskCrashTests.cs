using System.Diagnostics;
using System.Globalization;
using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

/// <summary>
/// Kills a real process (SIGKILL) that appends to a WAL on the real disk, at random moments, and checks after every
/// kill that each index it acknowledged is present with the right content and that the log reopens cleanly.
/// A process kill keeps the page cache, so this checks the write/ack ordering and recovery, not power loss
/// (SimulatedFileSystem covers that).
/// </summary>
public sealed class RealDiskCrashTests
{
    private const int Kills = 55;
    private static readonly TimeSpan AckDeadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Every_acknowledged_entry_survives_repeated_SIGKILL()
    {
        string directory = Path.Combine(Path.GetTempPath(), "raftkv-crash-" + Guid.NewGuid().ToString("N"));
        var random = new DeterministicRandom(20240601);
        ulong highestAck = 0;
        try
        {
            for (int kill = 0; kill < Kills; kill++)
            {
                using Process child = StartChild(directory, seed: (ulong)kill + 1);
                using var deadline = new CancellationTokenSource(AckDeadline);
                string? opened = await child.StandardOutput.ReadLineAsync(deadline.Token);
                if (opened is null || !opened.StartsWith("open ", StringComparison.Ordinal))
                {
                    // Only now read stderr: reading it to the end waits for the child to exit.
                    child.Kill(entireProcessTree: true);
                    Assert.Fail($"child did not open the WAL: {opened} {await child.StandardError.ReadToEndAsync(deadline.Token)}");
                }

                // Let it acknowledge a random number of batches, then kill it mid-flight.
                int acksBeforeKill = random.Next(1, 40);
                for (int i = 0; i < acksBeforeKill; i++)
                {
                    string? line = await child.StandardOutput.ReadLineAsync(deadline.Token);
                    Assert.NotNull(line);
                    highestAck = Math.Max(highestAck, ParseAck(line));
                }
                child.Kill(entireProcessTree: true);
                // Lines already in the pipe were printed after their Save returned: they are acknowledgements too.
                string rest = await child.StandardOutput.ReadToEndAsync(deadline.Token);
                foreach (string line in rest.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    highestAck = Math.Max(highestAck, ParseAck(line));
                }
                await child.WaitForExitAsync(deadline.Token);

                using WriteAheadLog wal = WriteAheadLog.Open(PhysicalFileSystem.Instance, directory, new WalOptions { SegmentSizeBytes = 256 * 1024 });
                Assert.True(wal.LastIndex >= highestAck, $"kill {kill}: acknowledged {highestAck} but recovered only through {wal.LastIndex}");
                LogReadResult read = wal.ReadEntries(wal.FirstIndex, wal.LastIndex);
                Assert.Equal(LogReadStatus.Ok, read.Status);
                foreach (LogEntry entry in read.Entries)
                {
                    Assert.Equal(1UL, entry.Term);
                    Assert.True(entry.Data.Length >= 8 && BitConverter.ToUInt64(entry.Data.Span) == entry.Index, $"entry {entry.Index} has the wrong content");
                    for (int i = 8; i < entry.Data.Length; i++)
                    {
                        Assert.Equal((byte)(entry.Index * 131 + (ulong)i), entry.Data.Span[i]);
                    }
                }
                // The child keeps at most ~4000 + one batch (64) entries of at most ~650 bytes framed, plus a hard-state
                // record per batch: under 2.8 MB, i.e. 11 segments of 256 KiB, plus the partly written last one and the
                // one holding the compaction point. Without compaction the run would reach dozens of segments.
                Assert.True(wal.SegmentCount <= 13, $"{wal.SegmentCount} segments: compaction is not keeping the directory bounded");
            }
            Assert.True(highestAck > Kills, "the child made progress");
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private static ulong ParseAck(string line)
    {
        Assert.StartsWith("ack ", line);
        return ulong.Parse(line.AsSpan(4).Trim(), CultureInfo.InvariantCulture);
    }

    private static Process StartChild(string directory, ulong seed)
    {
        // The child is built next to this assembly's project: Tests/RaftKv.Storage.CrashChild/bin/<config>/<tfm>/.
        string testOutput = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string childDll = testOutput.Replace("RaftKv.Storage.Tests", "RaftKv.Storage.CrashChild", StringComparison.Ordinal);
        childDll = Path.Combine(childDll, "RaftKv.Storage.CrashChild.dll");
        Assert.True(File.Exists(childDll), $"crash child not built at {childDll}");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(childDll);
        start.ArgumentList.Add(directory);
        start.ArgumentList.Add(seed.ToString(CultureInfo.InvariantCulture));
        return Process.Start(start) ?? throw new InvalidOperationException("could not start the crash child");
    }
}
