using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

/// <summary>One test per row of the recovery decision table in docs/wal-format.md.</summary>
public sealed class WalRecoveryTableTests
{
    /// <summary>Writes entries 1..count, one Save each, in a single segment; returns the file's bytes and each record's start offset.</summary>
    private static (SimulatedFileSystem Fs, byte[] Bytes, List<long> EntryOffsets) SingleSegmentLog(int count)
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        var offsets = new List<long>();
        using (WriteAheadLog wal = TestLog.Open(fs))
        {
            wal.Save(new HardState(1, 1, 0), []);
            for (ulong i = 1; i <= (ulong)count; i++)
            {
                offsets.Add(fs.ReadAllBytes(TestLog.SegmentPath(1)).Length);
                wal.Save(null, [TestLog.Entry(i, 1, 40)]);
            }
        }
        return (fs, fs.ReadAllBytes(TestLog.SegmentPath(1)), offsets);
    }

    [Fact]
    public void Row1_a_lone_segment_without_any_valid_record_is_a_fresh_log()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), new byte[100]);
        using WriteAheadLog wal = TestLog.Open(fs);
        Assert.Equal(0UL, wal.LastIndex);
        Assert.Equal(HardState.Empty, wal.HardState);
    }

    [Fact]
    public void Row2_an_incomplete_last_record_is_cut()
    {
        (SimulatedFileSystem fs, byte[] bytes, List<long> offsets) = SingleSegmentLog(5);
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), bytes.AsSpan(0, (int)offsets[4] + 20));
        using WriteAheadLog wal = TestLog.Open(fs);
        Assert.Equal(4UL, wal.LastIndex);
        Assert.Equal(offsets[4], fs.ReadAllBytes(TestLog.SegmentPath(1)).Length);
    }

    [Fact]
    public void Row2_trailing_zeros_after_the_last_record_are_cut()
    {
        (SimulatedFileSystem fs, byte[] bytes, _) = SingleSegmentLog(5);
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), [.. bytes, .. new byte[4096]]);
        using (WriteAheadLog wal = TestLog.Open(fs))
        {
            Assert.Equal(5UL, wal.LastIndex);
            wal.Save(null, [TestLog.Entry(6, 1)]);
        }
        using WriteAheadLog reopened = TestLog.Open(fs);
        TestLog.AssertSameEntries(TestLog.Entries(1, 5, 1, 40).Append(TestLog.Entry(6, 1)).ToList(), TestLog.AllEntries(reopened));
    }

    [Fact]
    public void Row2_a_checksum_failure_on_the_last_record_running_to_end_of_file_is_a_torn_write()
    {
        (SimulatedFileSystem fs, byte[] bytes, List<long> offsets) = SingleSegmentLog(5);
        bytes[offsets[4] + 30] ^= 0x10;
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), bytes);
        using WriteAheadLog wal = TestLog.Open(fs);
        Assert.Equal(4UL, wal.LastIndex);
    }

    [Fact]
    public void Row3_a_checksum_failure_followed_by_a_valid_record_is_corruption_naming_file_and_offset()
    {
        (SimulatedFileSystem fs, byte[] bytes, List<long> offsets) = SingleSegmentLog(5);
        bytes[offsets[2] + 30] ^= 0x10;
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), bytes);
        WalCorruptionException e = Assert.Throws<WalCorruptionException>(() => TestLog.Open(fs));
        Assert.Equal(TestLog.SegmentPath(1), e.Path);
        Assert.Equal(offsets[2], e.Offset);
        Assert.Contains(TestLog.SegmentPath(1), e.Message);
        Assert.Contains($"offset {offsets[2]}", e.Message);
    }

    [Fact]
    public void Row3_a_bad_length_before_the_tail_is_corruption()
    {
        (SimulatedFileSystem fs, byte[] bytes, List<long> offsets) = SingleSegmentLog(5);
        bytes[offsets[1] + 7] = 0x7F; // length field's high byte: far beyond the file and the maximum
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), bytes);
        WalCorruptionException e = Assert.Throws<WalCorruptionException>(() => TestLog.Open(fs));
        Assert.Equal(offsets[1], e.Offset);
    }

    [Fact]
    public void Row4_damage_in_a_segment_that_is_not_the_last_is_corruption_even_at_its_end()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (ulong i = 1; i <= 60; i++)
            {
                wal.Save(null, [TestLog.Entry(i, 1, 100)]);
            }
            Assert.True(wal.SegmentCount >= 2);
        }
        byte[] first = fs.ReadAllBytes(TestLog.SegmentPath(1));
        first[^3] ^= 1; // inside the last record of the first segment
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), first);
        WalCorruptionException e = Assert.Throws<WalCorruptionException>(() => TestLog.Open(fs, TestLog.SmallSegments));
        Assert.Equal(TestLog.SegmentPath(1), e.Path);
    }

    [Fact]
    public void Row4b_a_torn_truncation_append_to_an_older_segment_is_cut_when_the_chain_continues()
    {
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var fs = new SimulatedFileSystem(new DeterministicRandom(seed), new SimulatedFileSystemOptions { TornWriteProbability = 1 });
            using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
            {
                for (ulong i = 1; i <= 60; i++)
                {
                    wal.Save(new HardState(1, 1, 0), [TestLog.Entry(i, 1, 100)]);
                }
                fs.FailAfterOperations(0); // the append to the older segment is a short write
                Assert.ThrowsAny<IOException>(() => wal.Save(new HardState(2, 2, 0), [TestLog.Entry(5, 2)]));
            }
            fs.Crash();
            using WriteAheadLog reopened = TestLog.Open(fs, TestLog.SmallSegments);
            TestLog.AssertSameEntries(TestLog.Entries(1, 60, 1, 100), TestLog.AllEntries(reopened));
            reopened.Save(new HardState(2, 2, 0), [TestLog.Entry(5, 2)]);
            Assert.Equal(5UL, reopened.LastIndex);
        }
    }

    [Fact]
    public void Row5_valid_records_that_break_the_index_sequence_are_corruption()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        var buffer = new WalRecordBuffer();
        buffer.AppendHardState(new HardState(1, 0, 0));
        buffer.AppendEntry(TestLog.Entry(1, 1));
        long gapOffset = buffer.Length;
        buffer.AppendEntry(TestLog.Entry(3, 1));
        fs.WriteAllBytesDurably(TestLog.SegmentPath(1), buffer.Written);
        WalCorruptionException e = Assert.Throws<WalCorruptionException>(() => TestLog.Open(fs));
        Assert.Equal(gapOffset, e.Offset);
    }

    [Fact]
    public void Row6_leftovers_of_an_interrupted_truncation_are_deleted()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (ulong i = 1; i <= 60; i++)
            {
                wal.Save(new HardState(1, 1, 0), [TestLog.Entry(i, 1, 100)]);
            }
            Assert.True(wal.SegmentCount >= 3);
            // Conflict at 5: K is the first segment. Writes to K (write, fsync) succeed, then the deletes and the
            // directory fsync fail: the deletions never become durable.
            fs.FailAfterOperations(2);
            Assert.ThrowsAny<IOException>(() => wal.Save(new HardState(2, 2, 0), [TestLog.Entry(5, 2)]));
        }
        fs.Crash();
        Assert.True(TestLog.SegmentFiles(fs).Count >= 3, "the later segments came back");
        using (WriteAheadLog reopened = TestLog.Open(fs, TestLog.SmallSegments))
        {
            Assert.Equal(4UL, reopened.LastIndex);
            Assert.Equal(new HardState(1, 1, 0), reopened.HardState);
            Assert.Single(TestLog.SegmentFiles(fs));
            reopened.Save(new HardState(2, 2, 0), [TestLog.Entry(5, 2)]);
        }
        using WriteAheadLog again = TestLog.Open(fs, TestLog.SmallSegments);
        TestLog.AssertSameEntries([.. TestLog.Entries(1, 4, 1, 100), TestLog.Entry(5, 2)], TestLog.AllEntries(again));
    }

    [Fact]
    public void Row7_a_missing_middle_segment_is_corruption()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (ulong i = 1; i <= 80; i++)
            {
                wal.Save(null, [TestLog.Entry(i, 1, 100)]);
            }
            Assert.True(wal.SegmentCount >= 3);
        }
        string middle = TestLog.SegmentFiles(fs)[1];
        fs.DeleteFile(Path.Combine(TestLog.Directory, middle));
        fs.SyncDirectory(TestLog.Directory);
        WalCorruptionException e = Assert.Throws<WalCorruptionException>(() => TestLog.Open(fs, TestLog.SmallSegments));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Row8_a_missing_first_segment_without_a_covering_snapshot_is_corruption()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (ulong i = 1; i <= 40; i++)
            {
                wal.Save(null, [TestLog.Entry(i, 1, 100)]);
            }
        }
        fs.DeleteFile(TestLog.SegmentPath(1));
        fs.SyncDirectory(TestLog.Directory);
        WalCorruptionException e = Assert.Throws<WalCorruptionException>(() => TestLog.Open(fs, TestLog.SmallSegments));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Row9_segments_left_by_an_interrupted_compaction_are_deleted()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        var snapshot = new SnapshotMetadata(50, 1, TestLog.Configuration);
        using (WriteAheadLog wal = TestLog.Open(fs, TestLog.SmallSegments))
        {
            for (ulong i = 1; i <= 60; i++)
            {
                wal.Save(null, [TestLog.Entry(i, 1, 100)]);
            }
            // The Snapshot record is written and fsynced; the deletes' directory fsync fails.
            fs.FailAfterOperations(3);
            Assert.ThrowsAny<IOException>(() => wal.CompactTo(snapshot));
        }
        fs.Crash();
        int before = TestLog.SegmentFiles(fs).Count;
        using WriteAheadLog reopened = TestLog.Open(fs, TestLog.SmallSegments);
        Assert.Equal(snapshot, reopened.Snapshot);
        Assert.Equal(51UL, reopened.FirstIndex);
        Assert.True(TestLog.SegmentFiles(fs).Count < before, "obsolete segments are deleted at open");
        TestLog.AssertSameEntries(TestLog.Entries(51, 60, 1, 100), TestLog.AllEntries(reopened));
    }
}
