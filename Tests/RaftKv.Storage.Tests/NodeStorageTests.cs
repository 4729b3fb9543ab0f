using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

public sealed class NodeStorageTests
{
    [Fact]
    public void A_brand_new_data_directory_survives_a_power_loss_right_after_the_first_acknowledged_writes()
    {
        // None of the node's directories exist yet: Open creates them all. A crash loses every directory whose entry
        // in its parent was never synced, and with it the fsynced files inside: the vote, the entries, the snapshot.
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        const string directory = "/var/lib/raftkv/node1/raft";
        var snapshot = new SnapshotMetadata(2, 5, TestLog.Configuration);
        using (NodeStorage storage = NodeStorage.Open(fs, directory, new WalOptions(), TestLog.Configuration))
        {
            storage.Save(new HardState(5, 2, 0), TestLog.Entries(1, 3, 5));
            storage.CompactTo(snapshot, [1, 2, 3]);
        }
        fs.Crash();

        using NodeStorage reopened = NodeStorage.Open(fs, directory, new WalOptions(), TestLog.Configuration);
        PersistentState state = reopened.ReadPersistentState();
        Assert.Equal(new HardState(5, 2, 0), state.HardState);
        Assert.Equal(snapshot, state.Snapshot);
        Assert.Equal(3UL, reopened.LastIndex);
        Assert.Equal([1, 2, 3], reopened.ReadLatestSnapshotData());
    }

    [Fact]
    public void A_crash_at_any_step_of_a_compaction_recovers_the_old_or_the_new_boundary_with_every_entry_after_it()
    {
        // A compaction publishes the new snapshot (temp file, fsync, rename, directory fsync), deletes the old one, then
        // records the boundary in the WAL and deletes the segments it covers. Crash after each of its operations in turn
        // (the failing one may store part of its bytes, and unsynced writes tear) until one run completes.
        const string directory = "/node/raft";
        var options = new WalOptions { SegmentSizeBytes = 2048 };
        var older = new SnapshotMetadata(20, 2, TestLog.Configuration);
        var newer = new SnapshotMetadata(50, 2, TestLog.Configuration);
        byte[] Data(SnapshotMetadata snapshot) => Enumerable.Repeat((byte)snapshot.Index, 3000).ToArray();
        bool completed = false;
        for (long step = 0; !completed; step++)
        {
            var fs = new SimulatedFileSystem(new DeterministicRandom((ulong)step + 1));
            using (NodeStorage storage = NodeStorage.Open(fs, directory, options, TestLog.Configuration))
            {
                for (ulong first = 1; first <= 60; first += 5)
                {
                    storage.Save(new HardState(2, 1, first + 4), TestLog.Entries(first, first + 4, 2, sizeBytes: 200));
                }
                storage.CompactTo(older, Data(older));
                Assert.True(storage.SegmentCount > 3);
                fs.FailAfterOperations(step);
                try
                {
                    storage.CompactTo(newer, Data(newer));
                    completed = true;
                }
                catch (SimulatedIOException)
                {
                }
            }
            fs.Crash();

            using NodeStorage reopened = NodeStorage.Open(fs, directory, options, TestLog.Configuration);
            PersistentState state = reopened.ReadPersistentState();
            SnapshotMetadata expected = completed || state.Snapshot == newer ? newer : older;
            Assert.Equal(expected, state.Snapshot);
            Assert.Equal(Data(expected), reopened.ReadLatestSnapshotData());
            TestLog.AssertSameEntries(TestLog.Entries(expected.Index + 1, 60, 2, sizeBytes: 200), state.Entries);
            Assert.Equal(new HardState(2, 1, 60), state.HardState);
            Assert.Equal(["snapshot-00000000000000000" + expected.Index.ToString("D3", System.Globalization.CultureInfo.InvariantCulture) + "-00000000000000000002.snap"],
                fs.ListFiles(Path.Combine(directory, "snapshots")));
        }
    }
}
