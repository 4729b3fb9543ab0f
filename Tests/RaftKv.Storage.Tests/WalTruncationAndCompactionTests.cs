using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

public sealed class WalTruncationAndCompactionTests
{
    [Fact]
    public void A_conflicting_suffix_in_the_active_segment_is_replaced_and_survives_reopen()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs))
        {
            wal.Save(new HardState(1, 1, 0), TestLog.Entries(1, 10, 1));
            long syncs = fs.FileSyncCount;
            wal.Save(new HardState(2, 2, 5), TestLog.Entries(6, 8, 2));
            Assert.Equal(syncs + 1, fs.FileSyncCount);
            TestLog.AssertSameEntries([.. TestLog.Entries(1, 5, 1), .. TestLog.Entries(6, 8, 2)], TestLog.AllEntries(wal));
        }
        fs.Crash();
        using WriteAheadLog reopened = TestLog.Open(fs);
        Assert.Equal(new HardState(2, 2, 5), reopened.HardState);
        TestLog.AssertSameEntries([.. TestLog.Entries(1, 5, 1), .. TestLog.Entries(6, 8, 2)], TestLog.AllEntries(reopened));
    }

    [Fact]
    public void A_conflicting_suffix_spanning_segments_deletes_the_later_segments_and_survives_reopen()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (ulong i = 1; i <= 100; i += 5)
            {
                wal.Save(new HardState(1, 1, 0), TestLog.Entries(i, i + 4, 1, 100));
            }
            Assert.True(wal.SegmentCount >= 4);
            wal.Save(new HardState(3, 3, 0), TestLog.Entries(20, 25, 3, 100));
            Assert.Equal(25UL, wal.LastIndex);
            // Later segments are gone; the kept segment was full, so the batch rolled to a segment named 20.
            Assert.Equal([TestLog.SegmentPath(1), TestLog.SegmentPath(16), TestLog.SegmentPath(20)],
                TestLog.SegmentFiles(fs).Select(n => Path.Combine(TestLog.Directory, n)));
            wal.Save(null, TestLog.Entries(26, 60, 3, 100));
        }
        fs.Crash();
        using WriteAheadLog reopened = TestLog.Open(fs, TestLog.SmallSegments);
        Assert.Equal(new HardState(3, 3, 0), reopened.HardState);
        TestLog.AssertSameEntries([.. TestLog.Entries(1, 19, 1, 100), .. TestLog.Entries(20, 60, 3, 100)], TestLog.AllEntries(reopened));
    }

    [Fact]
    public void InstallSnapshot_keeps_a_matching_suffix_and_discards_a_conflicting_log()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            wal.Save(new HardState(1, 1, 0), TestLog.Entries(1, 30, 1, 100));
            Assert.Equal(SnapshotBoundaryOutcome.RetainedSuffix, wal.InstallSnapshot(new SnapshotMetadata(10, 1, TestLog.Configuration)));
            Assert.Equal(SnapshotBoundaryOutcome.Stale, wal.InstallSnapshot(new SnapshotMetadata(5, 1, TestLog.Configuration)));
            Assert.Equal(11UL, wal.FirstIndex);
            Assert.Equal(SnapshotBoundaryOutcome.DiscardedLog, wal.InstallSnapshot(new SnapshotMetadata(20, 2, TestLog.Configuration)));
            Assert.Equal(21UL, wal.FirstIndex);
            Assert.Equal(20UL, wal.LastIndex);
            wal.Save(null, TestLog.Entries(21, 25, 2));
        }
        fs.Crash();
        using WriteAheadLog reopened = TestLog.Open(fs, TestLog.SmallSegments);
        Assert.Equal(new SnapshotMetadata(20, 2, TestLog.Configuration), reopened.Snapshot);
        Assert.Equal(new HardState(1, 1, 0), reopened.HardState);
        TestLog.AssertSameEntries(TestLog.Entries(21, 25, 2), TestLog.AllEntries(reopened));
    }

    [Fact]
    public void InstallSnapshot_beyond_the_log_end_discards_everything_and_old_segments()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (ulong i = 1; i <= 60; i += 5)
            {
                wal.Save(new HardState(1, 1, 0), TestLog.Entries(i, i + 4, 1, 100));
            }
            Assert.Equal(SnapshotBoundaryOutcome.DiscardedLog, wal.InstallSnapshot(new SnapshotMetadata(1000, 4, TestLog.Configuration)));
            Assert.Equal(1, wal.SegmentCount);
            wal.Save(new HardState(4, 0, 1000), TestLog.Entries(1001, 1003, 4));
        }
        fs.Crash();
        using WriteAheadLog reopened = TestLog.Open(fs, TestLog.SmallSegments);
        Assert.Equal(1000UL, reopened.Snapshot!.Index);
        TestLog.AssertSameEntries(TestLog.Entries(1001, 1003, 4), TestLog.AllEntries(reopened));
    }

    [Fact]
    public void Rolling_with_compaction_keeps_the_directory_bounded_while_writing_ten_times_the_segment_size()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        var options = new WalOptions { SegmentSizeBytes = 4096 };
        const int EntrySizeBytes = 100;
        const int BatchSize = 4;
        long maxBatchBytes = BatchSize * 136 + 200; // records plus a segment header
        ulong next = 1;
        long written = 0;
        using (WriteAheadLog wal = TestLog.Open(fs, options))
        {
            while (written < 10 * options.SegmentSizeBytes)
            {
                wal.Save(new HardState(1, 1, next), TestLog.Entries(next, next + BatchSize - 1, 1, EntrySizeBytes));
                next += BatchSize;
                written += BatchSize * EntrySizeBytes;
                if (next % 40 == 1)
                {
                    // Keep the last 8 entries as the retained tail, like a node that snapshots behind its commit index.
                    wal.CompactTo(new SnapshotMetadata(next - 9, 1, TestLog.Configuration));
                }
                long totalBytes = TestLog.SegmentFiles(fs).Sum(n => (long)fs.ReadAllBytes(Path.Combine(TestLog.Directory, n)).Length);
                Assert.True(wal.SegmentCount <= 4, $"{wal.SegmentCount} segments");
                Assert.True(totalBytes <= 4 * (options.SegmentSizeBytes + maxBatchBytes), $"{totalBytes} bytes on disk");
            }
            Assert.True(next > 400);
        }
        fs.Crash();
        using WriteAheadLog reopened = TestLog.Open(fs, options);
        Assert.Equal(next - 1, reopened.LastIndex);
        TestLog.AssertSameEntries(TestLog.Entries(reopened.FirstIndex, reopened.LastIndex, 1, EntrySizeBytes), TestLog.AllEntries(reopened));
    }
}
