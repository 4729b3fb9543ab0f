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
}
