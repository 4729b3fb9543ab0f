using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

public sealed class WalRoundTripTests
{
    [Fact]
    public void Saved_hard_state_and_entries_are_recovered_after_reopen()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        List<LogEntry> entries = TestLog.Entries(1, 50, term: 1, sizeBytes: 100);
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (int i = 0; i < entries.Count; i += 5)
            {
                wal.Save(new HardState(1, 2, (ulong)i), entries[i..(i + 5)]);
            }
            Assert.True(wal.SegmentCount > 1, "small segments should roll");
        }
        fs.Crash();
        using WriteAheadLog reopened = TestLog.Open(fs, TestLog.SmallSegments);
        PersistentState state = reopened.ReadPersistentState();
        Assert.Equal(new HardState(1, 2, 45), state.HardState);
        Assert.Null(state.Snapshot);
        TestLog.AssertSameEntries(entries, state.Entries);
        Assert.True(reopened.TryGetTerm(50, out ulong term) && term == 1);
    }

    [Fact]
    public void Empty_directory_opens_as_a_fresh_log()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using WriteAheadLog wal = TestLog.Open(fs);
        Assert.Equal(HardState.Empty, wal.HardState);
        Assert.Equal(1UL, wal.FirstIndex);
        Assert.Equal(0UL, wal.LastIndex);
        Assert.Single(TestLog.SegmentFiles(fs));
    }

    [Fact]
    public void Each_save_costs_exactly_one_file_fsync_when_not_rolling()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using WriteAheadLog wal = TestLog.Open(fs);
        long before = fs.FileSyncCount;
        wal.Save(new HardState(1, 1, 0), TestLog.Entries(1, 256, 1));
        wal.Save(null, TestLog.Entries(257, 300, 1));
        wal.Save(new HardState(2, 0, 5), []);
        Assert.Equal(before + 3, fs.FileSyncCount);
    }

    [Fact]
    public void Reads_outside_the_log_are_results_not_exceptions()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using WriteAheadLog wal = TestLog.Open(fs);
        wal.Save(null, TestLog.Entries(1, 10, 1));
        wal.CompactTo(new SnapshotMetadata(5, 1, TestLog.Configuration));
        Assert.Equal(LogReadStatus.Compacted, wal.ReadEntries(3, 7).Status);
        Assert.Equal(LogReadStatus.Unavailable, wal.ReadEntries(8, 11).Status);
        Assert.Equal(LogReadStatus.Ok, wal.ReadEntries(6, 10).Status);
        Assert.True(wal.TryGetTerm(5, out ulong snapshotTerm) && snapshotTerm == 1);
        Assert.False(wal.TryGetTerm(4, out _));
    }

    [Fact]
    public void Non_contiguous_or_out_of_range_entries_are_rejected_without_writing()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using WriteAheadLog wal = TestLog.Open(fs);
        wal.Save(null, TestLog.Entries(1, 3, 1));
        Assert.Throws<ArgumentException>(() => wal.Save(null, [TestLog.Entry(4, 1), TestLog.Entry(6, 1)]));
        Assert.Throws<ArgumentException>(() => wal.Save(null, [TestLog.Entry(5, 1)]));
        wal.Save(null, [TestLog.Entry(4, 1)]);
        Assert.Equal(4UL, wal.LastIndex);
    }

    [Fact]
    public void An_io_error_makes_the_log_fail_stop()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using WriteAheadLog wal = TestLog.Open(fs);
        wal.Save(null, TestLog.Entries(1, 3, 1));
        fs.FailAfterOperations(0);
        Assert.Throws<SimulatedIOException>(() => wal.Save(null, TestLog.Entries(4, 5, 1)));
        Assert.Throws<InvalidOperationException>(() => wal.Save(null, TestLog.Entries(4, 5, 1)));
        fs.Crash();
        using WriteAheadLog reopened = TestLog.Open(fs);
        Assert.Equal(3UL, reopened.LastIndex);
    }

    [Fact]
    public void Invalid_options_are_reported_by_validate()
    {
        Assert.NotEmpty(new WalOptions { SegmentSizeBytes = 10 }.Validate());
        Assert.Empty(new WalOptions().Validate());
        Assert.Throws<ArgumentException>(() => TestLog.Open(TestLog.CleanFileSystem(), new WalOptions { MaxRecordSizeBytes = 0 }));
    }
}
