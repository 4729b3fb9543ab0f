using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Storage.Tests;

public sealed class SnapshotTests
{
    private const string Dir = "/data/snapshots";

    private static byte[] Payload(int length, int salt) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + salt)).ToArray();

    private static SnapshotMetadata Meta(ulong index, ulong term) => new(index, term, TestLog.Configuration);

    [Fact]
    public void A_saved_snapshot_is_found_after_a_crash_and_older_ones_are_deleted()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        SnapshotStore store = SnapshotStore.Open(fs, Dir);
        store.Save(Meta(10, 1), Payload(5000, 1));
        store.Save(Meta(20, 2), Payload(7000, 2));
        fs.Crash();
        SnapshotStore reopened = SnapshotStore.Open(fs, Dir);
        Assert.Equal(Meta(20, 2), reopened.Latest);
        Assert.Equal(Payload(7000, 2), reopened.ReadLatestData());
        Assert.Single(fs.ListFiles(Dir));
    }

    [Fact]
    public void A_crash_before_commit_leaves_the_previous_snapshot_and_no_temp_file()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        SnapshotStore store = SnapshotStore.Open(fs, Dir);
        store.Save(Meta(10, 1), Payload(100, 1));
        SnapshotWriter writer = store.BeginWrite(Meta(20, 2));
        writer.Write(Payload(100, 2));
        fs.SyncDirectory(Dir); // even if the temp file's entry became durable
        fs.Crash();
        SnapshotStore reopened = SnapshotStore.Open(fs, Dir);
        Assert.Equal(Meta(10, 1), reopened.Latest);
        Assert.Single(fs.ListFiles(Dir));
    }

    [Fact]
    public void A_flipped_bit_in_the_snapshot_file_is_reported_as_corruption()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        SnapshotStore.Open(fs, Dir).Save(Meta(10, 1), Payload(1000, 1));
        string path = Path.Combine(Dir, fs.ListFiles(Dir).Single());
        fs.FlipRandomBit(path);
        SnapshotCorruptionException e = Assert.Throws<SnapshotCorruptionException>(() => SnapshotStore.Open(fs, Dir));
        Assert.Equal(path, e.Path);
    }

    private static (SimulatedFileSystem Fs, SnapshotStore Sender, SnapshotStore Receiver) TwoNodes(byte[] data)
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        SnapshotStore sender = SnapshotStore.Open(fs, "/leader/snapshots");
        sender.Save(Meta(100, 3), data);
        return (fs, sender, SnapshotStore.Open(fs, "/follower/snapshots"));
    }

    [Fact]
    public void Two_senders_do_not_restart_each_other_forever_the_newer_snapshot_wins()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        SnapshotStore oldLeader = SnapshotStore.Open(fs, "/old/snapshots");
        oldLeader.Save(Meta(122, 3), Payload(3000, 1));
        SnapshotStore newLeader = SnapshotStore.Open(fs, "/new/snapshots");
        newLeader.Save(Meta(127, 4), Payload(3000, 2));
        SnapshotStore follower = SnapshotStore.Open(fs, "/follower/snapshots");
        using var older = new SnapshotChunker(oldLeader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var newer = new SnapshotChunker(newLeader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var receiver = new SnapshotReceiver(follower);

        // The deposed leader's transfer is under way when the new leader's starts: the newer snapshot takes over.
        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(older.ReadChunk(0)).Outcome);
        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(newer.ReadChunk(0)).Outcome);
        // The older sender, resuming or restarting, is told its snapshot is stale, so it stops.
        Assert.Equal(ChunkOutcome.Stale, receiver.Accept(older.ReadChunk(1000)).Outcome);
        Assert.Equal(ChunkOutcome.Stale, receiver.Accept(older.ReadChunk(0)).Outcome);
        Assert.Equal(new ChunkReceipt(ChunkOutcome.Accepted, 2000), receiver.Accept(newer.ReadChunk(1000)));
        Assert.Equal(ChunkOutcome.Completed, receiver.Accept(newer.ReadChunk(2000)).Outcome);
        Assert.Equal(Meta(127, 4), follower.Latest);
        Assert.Equal(Payload(3000, 2), follower.ReadLatestData());
    }

    [Fact]
    public void A_transfer_whose_sender_went_silent_is_abandoned_for_another_after_a_few_refusals()
    {
        SimulatedFileSystem fs = TestLog.CleanFileSystem();
        SnapshotStore crashed = SnapshotStore.Open(fs, "/crashed/snapshots");
        crashed.Save(Meta(127, 4), Payload(3000, 1));
        SnapshotStore leader = SnapshotStore.Open(fs, "/leader/snapshots");
        leader.Save(Meta(122, 5), Payload(3000, 2)); // lower index: the new leader has not compacted as far
        SnapshotStore follower = SnapshotStore.Open(fs, "/follower/snapshots");
        using var silent = new SnapshotChunker(crashed, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var chunker = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var receiver = new SnapshotReceiver(follower);

        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(silent.ReadChunk(0)).Outcome);
        for (int i = 0; i < SnapshotReceiver.MaxRefusalsWithoutProgress; i++)
        {
            Assert.Equal(ChunkOutcome.Stale, receiver.Accept(chunker.ReadChunk(0)).Outcome);
        }
        long offset = 0;
        ChunkReceipt receipt;
        do
        {
            receipt = receiver.Accept(chunker.ReadChunk(offset));
            offset = receipt.NextOffsetBytes;
        }
        while (receipt.Outcome == ChunkOutcome.Accepted);
        Assert.Equal(ChunkOutcome.Completed, receipt.Outcome);
        Assert.Equal(Meta(122, 5), follower.Latest);
    }

    [Fact]
    public void A_local_snapshot_and_a_transfer_of_the_same_snapshot_do_not_write_into_each_others_file()
    {
        // A follower starts writing its own snapshot at its applied index (the driver's background snapshot) while
        // the leader's snapshot of that same index, hence the same file name, arrives in chunks. Each writer must
        // have a temp file of its own: the one that commits publishes exactly the bytes it wrote.
        byte[] data = Payload(10_000, 7);
        (SimulatedFileSystem fs, SnapshotStore leader, SnapshotStore follower) = TwoNodes(data);
        SnapshotWriter local = follower.BeginWrite(Meta(100, 3));
        local.Write(data.AsSpan(0, 3000));

        using var chunker = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var receiver = new SnapshotReceiver(follower);
        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(chunker.ReadChunk(0)).Outcome);

        local.Write(data.AsSpan(3000));
        local.Commit();
        Assert.Equal(data, follower.ReadLatestData());
        Assert.Equal(ChunkOutcome.Stale, receiver.Accept(chunker.ReadChunk(1000)).Outcome);

        fs.Crash();
        SnapshotStore reopened = SnapshotStore.Open(fs, "/follower/snapshots");
        Assert.Equal(Meta(100, 3), reopened.Latest);
        Assert.Equal(data, reopened.ReadLatestData());
    }

    [Fact]
    public void A_transfer_the_store_has_moved_past_deletes_its_temp_file_at_its_next_chunk()
    {
        // The follower publishes a snapshot of its own, newer than the one arriving, while that transfer is under way:
        // the transfer can never complete, and its temp file (up to a whole snapshot) must not wait for the next
        // transfer or a restart to go.
        byte[] data = Payload(10_000, 3);
        (SimulatedFileSystem fs, SnapshotStore leader, SnapshotStore follower) = TwoNodes(data);
        using var chunker = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var receiver = new SnapshotReceiver(follower);
        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(chunker.ReadChunk(0)).Outcome);
        Assert.EndsWith(".tmp", Assert.Single(fs.ListFiles("/follower/snapshots")), StringComparison.Ordinal);
        follower.Save(Meta(150, 3), Payload(100, 5));

        Assert.Equal(ChunkOutcome.Stale, receiver.Accept(chunker.ReadChunk(1000)).Outcome);
        Assert.Null(receiver.InProgress);
        Assert.Equal(["snapshot-00000000000000000150-00000000000000000003.snap"], fs.ListFiles("/follower/snapshots"));
    }

    [Fact]
    public void A_transfer_with_a_dropped_chunk_resumes_and_yields_identical_bytes()
    {
        byte[] data = Payload(10_000, 9);
        (SimulatedFileSystem fs, SnapshotStore leader, SnapshotStore follower) = TwoNodes(data);
        using var chunker = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1024 });
        using var receiver = new SnapshotReceiver(follower);

        // The leader pipelines chunks 0, 1, 2, 3; chunk 1 is dropped on the wire.
        Assert.Equal(new ChunkReceipt(ChunkOutcome.Accepted, 1024), receiver.Accept(chunker.ReadChunk(0)));
        Assert.Equal(new ChunkReceipt(ChunkOutcome.OutOfOrder, 1024), receiver.Accept(chunker.ReadChunk(2048)));
        Assert.Equal(new ChunkReceipt(ChunkOutcome.OutOfOrder, 1024), receiver.Accept(chunker.ReadChunk(3072)));

        // The leader resumes from the offset the follower reported.
        long offset = receiver.NextOffsetBytes;
        ChunkReceipt receipt;
        int chunks = 0;
        do
        {
            receipt = receiver.Accept(chunker.ReadChunk(offset));
            offset = receipt.NextOffsetBytes;
            chunks++;
        }
        while (receipt.Outcome == ChunkOutcome.Accepted && chunks < 100);
        Assert.Equal(ChunkOutcome.Completed, receipt.Outcome);

        fs.Crash();
        SnapshotStore reopened = SnapshotStore.Open(fs, "/follower/snapshots");
        Assert.Equal(Meta(100, 3), reopened.Latest);
        Assert.Equal(data, reopened.ReadLatestData());
        Assert.Equal(leader.LatestDataCrc, reopened.LatestDataCrc);
    }

    [Fact]
    public void A_corrupted_chunk_is_rejected_and_asked_for_again()
    {
        byte[] data = Payload(3000, 4);
        (_, SnapshotStore leader, SnapshotStore follower) = TwoNodes(data);
        using var chunker = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var receiver = new SnapshotReceiver(follower);
        receiver.Accept(chunker.ReadChunk(0));

        SnapshotChunk good = chunker.ReadChunk(1000);
        byte[] flipped = good.Data.ToArray();
        flipped[500] ^= 0x04;
        Assert.Equal(new ChunkReceipt(ChunkOutcome.ChunkChecksumMismatch, 1000), receiver.Accept(good with { Data = flipped }));
        Assert.Null(follower.Latest);

        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(good).Outcome);
        Assert.Equal(ChunkOutcome.Completed, receiver.Accept(chunker.ReadChunk(2000)).Outcome);
        Assert.Equal(data, follower.ReadLatestData());
    }

    [Fact]
    public void A_whole_snapshot_checksum_mismatch_restarts_the_transfer_and_publishes_nothing()
    {
        byte[] data = Payload(2000, 4);
        (SimulatedFileSystem fs, SnapshotStore leader, SnapshotStore follower) = TwoNodes(data);
        using var chunker = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var receiver = new SnapshotReceiver(follower);
        uint wrongCrc = chunker.SnapshotCrc ^ 1;
        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(chunker.ReadChunk(0) with { SnapshotCrc = wrongCrc }).Outcome);
        Assert.Equal(new ChunkReceipt(ChunkOutcome.SnapshotChecksumMismatch, 0), receiver.Accept(chunker.ReadChunk(1000) with { SnapshotCrc = wrongCrc }));
        Assert.Null(follower.Latest);
        Assert.Empty(fs.ListFiles("/follower/snapshots"));
    }

    [Fact]
    public void Chunks_of_an_older_snapshot_are_stale_and_a_newer_snapshot_restarts_at_zero()
    {
        byte[] data = Payload(2000, 4);
        (_, SnapshotStore leader, SnapshotStore follower) = TwoNodes(data);
        follower.Save(Meta(200, 3), Payload(10, 1));
        using var chunker = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        using var receiver = new SnapshotReceiver(follower);
        Assert.Equal(ChunkOutcome.Stale, receiver.Accept(chunker.ReadChunk(0)).Outcome);

        leader.Save(Meta(300, 4), data);
        using var newer = new SnapshotChunker(leader, new SnapshotTransferOptions { ChunkSizeBytes = 1000 });
        Assert.Equal(new ChunkReceipt(ChunkOutcome.OutOfOrder, 0), receiver.Accept(newer.ReadChunk(1000)));
        Assert.Equal(ChunkOutcome.Accepted, receiver.Accept(newer.ReadChunk(0)).Outcome);
        Assert.Equal(ChunkOutcome.Completed, receiver.Accept(newer.ReadChunk(1000)).Outcome);
        Assert.Equal(Meta(300, 4), follower.Latest);
    }
}
