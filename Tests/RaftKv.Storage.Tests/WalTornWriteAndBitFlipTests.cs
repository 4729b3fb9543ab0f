using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

public sealed class WalTornWriteAndBitFlipTests
{
    private static (SimulatedFileSystem Fs, byte[] Bytes, List<long> RecordOffsets) LogOfFiveSaves()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        var offsets = new List<long>();
        using (WriteAheadLog wal = TestLog.Open(fs))
        {
            for (ulong i = 1; i <= 5; i++)
            {
                offsets.Add(fs.ReadAllBytes(TestLog.SegmentPath(1)).Length);
                wal.Save(new HardState(1, 1, i - 1), [TestLog.Entry(i, 1, 37)]);
            }
        }
        offsets.Add(fs.ReadAllBytes(TestLog.SegmentPath(1)).Length);
        return (fs, fs.ReadAllBytes(TestLog.SegmentPath(1)), offsets);
    }

    [Fact]
    public void A_torn_write_at_every_byte_of_the_last_record_recovers_to_the_previous_record()
    {
        // The last batch is [HardState(commit 4)][Entry 5]; tearing anywhere in a record cuts back to the record before it.
        (_, byte[] bytes, List<long> offsets) = LogOfFiveSaves();
        long hardStateEnd = offsets[4] + WalRecord.RecordSize(24);
        for (long cut = offsets[4]; cut < bytes.Length; cut++)
        {
            foreach (bool zeroFilled in new[] { false, true })
            {
                SimulatedFileSystem fs = TestLog.CleanFileSystem();
                byte[] torn = zeroFilled ? [.. bytes.AsSpan(0, (int)cut), .. new byte[bytes.Length - cut]] : bytes[..(int)cut];
                fs.WriteAllBytesDurably(TestLog.SegmentPath(1), torn);
                using WriteAheadLog wal = TestLog.Open(fs);
                // A zero-filled tear keeps a record exactly when every byte it lost was zero anyway (padding, high bytes).
                bool Survived(long recordEnd) => cut >= recordEnd || (zeroFilled && bytes.AsSpan((int)cut, (int)(recordEnd - cut)).IndexOfAnyExcept((byte)0) < 0);
                bool hardStateSurvived = Survived(hardStateEnd);
                bool entrySurvived = Survived(bytes.Length);
                if (entrySurvived)
                {
                    Assert.Equal(5UL, wal.LastIndex);
                    Assert.Equal(bytes.Length, fs.ReadAllBytes(TestLog.SegmentPath(1)).Length);
                    continue;
                }
                Assert.Equal(4UL, wal.LastIndex);
                Assert.True(new HardState(1, 1, hardStateSurvived ? 4UL : 3UL) == wal.HardState, $"cut {cut} zero {zeroFilled} start {offsets[4]} hs {wal.HardState}");
                TestLog.AssertSameEntries(TestLog.Entries(1, 4, 1, 37), TestLog.AllEntries(wal));
                Assert.Equal(hardStateSurvived ? hardStateEnd : offsets[4], fs.ReadAllBytes(TestLog.SegmentPath(1)).Length);
            }
        }
    }

    [Fact]
    public void A_flipped_bit_in_any_earlier_record_is_corruption_never_a_shorter_log()
    {
        (_, byte[] bytes, List<long> offsets) = LogOfFiveSaves();
        long lastStart = offsets[4];
        for (long position = 0; position < lastStart; position++)
        {
            byte[] damaged = (byte[])bytes.Clone();
            damaged[position] ^= (byte)(1 << (int)(position % 8));
            SimulatedFileSystem fs = TestLog.CleanFileSystem();
            fs.WriteAllBytesDurably(TestLog.SegmentPath(1), damaged);
            WalCorruptionException e = Assert.Throws<WalCorruptionException>(() => TestLog.Open(fs));
            Assert.Equal(TestLog.SegmentPath(1), e.Path);
            Assert.True(e.Offset <= position && position - e.Offset < 200, $"flip at {position} reported at {e.Offset}");
        }
    }

    [Fact]
    public void Bit_rot_found_on_read_is_fail_stop_corruption()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        using WriteAheadLog wal = TestLog.Open(fs);
        wal.Save(null, TestLog.Entries(1, 3, 1, 2000));
        byte[] bytes = fs.ReadAllBytes(TestLog.SegmentPath(1));
        fs.FlipRandomBit(TestLog.SegmentPath(1));
        Assert.NotEqual(bytes, fs.ReadAllBytes(TestLog.SegmentPath(1)));
        Assert.ThrowsAny<Exception>(() => wal.ReadEntries(1, 3));
    }

    [Fact]
    public void Crash_torn_batches_always_recover_to_a_prefix_of_the_batch()
    {
        for (ulong seed = 1; seed <= 200; seed++)
        {
            var fs = new SimulatedFileSystem(new DeterministicRandom(seed), new SimulatedFileSystemOptions { TornWriteProbability = 1, ZeroFilledTearProbability = 0.5 });
            using (WriteAheadLog wal = TestLog.Open(fs))
            {
                wal.Save(new HardState(1, 1, 0), TestLog.Entries(1, 10, 1, 50));
                fs.FailAfterOperations(1); // the batch's write happens, its fsync fails
                Assert.ThrowsAny<IOException>(() => wal.Save(new HardState(2, 2, 0), TestLog.Entries(11, 30, 2, 50)));
            }
            fs.Crash();
            using WriteAheadLog reopened = TestLog.Open(fs);
            Assert.InRange(reopened.LastIndex, 10UL, 30UL);
            TestLog.AssertSameEntries(
                [.. TestLog.Entries(1, 10, 1, 50), .. TestLog.Entries(11, reopened.LastIndex, 2, 50)],
                TestLog.AllEntries(reopened));
        }
    }
}
