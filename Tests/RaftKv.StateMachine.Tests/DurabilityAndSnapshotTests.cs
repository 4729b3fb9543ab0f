using System.Security.Cryptography;

namespace RaftKv.StateMachine.Tests;

public sealed class DurabilityAndSnapshotTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A deterministic workload: puts over a small key space, some deletes and CAS, values big enough to spill to disk.</summary>
    private static List<KvCommand> Workload(ulong session, ulong firstSequence, int count, int seed, long nowMs)
    {
        var random = new Random(seed);
        var commands = new List<KvCommand>();
        for (int i = 0; i < count; i++)
        {
            ulong sequence = firstSequence + (ulong)i;
            byte[] key = Driver.Bytes("key-" + random.Next(200));
            byte[] value = new byte[random.Next(0, 3000)];
            random.NextBytes(value);
            commands.Add((i % 7) switch
            {
                0 => KvCommand.Delete(session, sequence, nowMs + i, key),
                1 => KvCommand.CreateIfAbsent(session, sequence, nowMs + i, key, value),
                _ => KvCommand.Put(session, sequence, nowMs + i, key, value),
            });
        }
        return commands;
    }

    [Fact]
    public void Two_replicas_applying_the_same_entries_agree_on_replies_and_snapshot_bytes()
    {
        // Different memory sizes give the two FASTER logs different layouts; the snapshot must not show it.
        using var a = new Driver(_temp.Sub("a"));
        using var b = new Driver(_temp.Sub("b"), Driver.SmallOptions with { LogMemorySizeBytes = 1024 * 1024, IndexBuckets = 4096 });
        ulong sa = a.Register(), sb = b.Register();
        Assert.Equal(sa, sb);
        foreach (var command in Workload(sa, 1, 600, seed: 7, a.NowMs))
        {
            Assert.Equal(a.Submit(command), b.Submit(command));
        }
        byte[] snapshotA = a.SnapshotBytes();
        Assert.Equal(SHA256.HashData(snapshotA), SHA256.HashData(b.SnapshotBytes()));
        Assert.Equal(snapshotA, a.SnapshotBytes());
    }

    [Fact]
    public async Task Checkpoint_then_reopen_reflects_exactly_the_checkpointed_prefix()
    {
        using var node = new Driver(_temp.Sub("node"));
        using var reference = new Driver(_temp.Sub("reference"));
        ulong s = node.Register();
        reference.Register();
        var workload = Workload(s, 1, 400, seed: 11, node.NowMs);
        foreach (var command in workload.Take(300))
        {
            node.Submit(command);
            reference.Submit(command);
        }

        var checkpoint = node.Machine.CheckpointAsync();
        ulong checkpointed = node.Machine.AppliedIndex;
        // The apply loop goes on while the checkpoint is flushed; none of this may appear after the reopen.
        foreach (var command in workload.Skip(300)) node.Submit(command);
        var result = await checkpoint;
        Assert.True(result.Succeeded, result.Error);
        Assert.Equal(checkpointed, result.AppliedIndex);

        node.Reopen();
        Assert.Equal(checkpointed, node.Machine.AppliedIndex);
        Assert.Equal(reference.SnapshotBytes(), node.SnapshotBytes());

        // The session table came back too: the last command's retry gets its original reply.
        var last = workload[299];
        Assert.Equal(reference.Submit(last), node.Submit(last));
        // And the driver replays from AppliedIndex + 1 onwards.
        foreach (var command in workload.Skip(300)) Assert.Equal(reference.Submit(command), node.Submit(command));
    }

    /// <summary>
    /// Many writes right after the cut overwrite keys whose checkpointed records are still in FASTER's mutable region,
    /// and push the log's head past them before the checkpoint is flushed. Recovery drops those writes; the records
    /// they replaced must be whole again for the log scans too, not only for reads by key. (Before the read-only
    /// shift at the cut, FASTER's seal on the replaced records survived on disk: this test failed in 4 runs of 4,
    /// compaction after the reopen deleting live keys; with 300 writes before the cut instead of 600, snapshots also
    /// lost keys in 9 rounds of 10.)
    /// </summary>
    [Fact]
    public async Task Records_overwritten_after_the_cut_come_back_whole_for_snapshots_and_compaction()
    {
        var options = Driver.SmallOptions with { IndexBuckets = 1 << 16, CompactionMinimumLogBytes = 0 };
        for (int round = 0; round < 5; round++)
        {
            using var node = new Driver(_temp.Sub($"node-{round}"), options);
            using var reference = new Driver(_temp.Sub($"reference-{round}"), options);
            ulong s = node.Register();
            reference.Register();
            // Enough overwrites before the cut that the recovered log is over twice its live data: compaction runs.
            var workload = Workload(s, 1, 1600, seed: 100 + round, node.NowMs);
            foreach (var command in workload.Take(600))
            {
                node.Submit(command);
                reference.Submit(command);
            }

            var checkpoint = node.Machine.CheckpointAsync();
            foreach (var command in workload.Skip(600)) node.Submit(command);
            var result = await checkpoint;
            Assert.True(result.Succeeded, result.Error);

            node.Reopen();
            Assert.Equal(reference.Machine.AppliedIndex, node.Machine.AppliedIndex);
            Assert.Equal(reference.SnapshotBytes(), node.SnapshotBytes());
            Assert.True(node.Machine.CompactLog().Compacted);
            for (int k = 0; k < 200; k++) Assert.Equal(reference.GetString("key-" + k), node.GetString("key-" + k));
            Assert.Equal(reference.SnapshotBytes(), node.SnapshotBytes());
        }
    }

    [Fact]
    public void Opening_an_empty_directory_starts_at_index_zero_and_unflushed_applies_are_not_claimed()
    {
        using var node = new Driver(_temp.Sub("node"));
        Assert.Equal(0UL, node.Machine.AppliedIndex);
        ulong s = node.Register();
        node.Put(s, 1, "k", "v");
        node.Reopen();
        Assert.Equal(0UL, node.Machine.AppliedIndex);
        Assert.Null(node.Machine.Get(Driver.Bytes("k")));
    }

    [Fact]
    public async Task A_crash_during_the_first_checkpoint_leaves_a_directory_that_opens_empty()
    {
        using var node = new Driver(_temp.Sub("node"));
        ulong s = node.Register();
        node.Put(s, 1, "k", "v");
        var result = await node.Machine.CheckpointAsync();
        Assert.True(result.Succeeded, result.Error);
        node.Machine.Dispose();

        // FASTER creates the checkpoint's metadata file, then writes it in one synchronous write as the checkpoint's
        // last step. A power loss in between (the creation already made durable by some other fsync, such as the WAL's)
        // leaves the only checkpoint with an empty info.dat: it never completed and nothing may rely on it.
        string info = Directory.GetFiles(node.Directory, "info.dat*", SearchOption.AllDirectories)
            .Single(path => path.Contains("cpr-checkpoints", StringComparison.Ordinal));
        File.WriteAllBytes(info, []);

        node.Reopen();
        Assert.Equal(0UL, node.Machine.AppliedIndex);
        Assert.Null(node.Machine.Get(Driver.Bytes("k")));

        // The driver replays the log into it; its next checkpoint is the one found from then on.
        s = node.Register();
        node.Put(s, 1, "k", "v2");
        result = await node.Machine.CheckpointAsync();
        Assert.True(result.Succeeded, result.Error);
        node.Reopen();
        Assert.Equal(result.AppliedIndex, node.Machine.AppliedIndex);
        Assert.Equal("v2", node.GetString("k"));
    }

    [Fact]
    public async Task Snapshot_taken_while_applying_continues_restores_to_identical_state()
    {
        using var leader = new Driver(_temp.Sub("leader"));
        using var reference = new Driver(_temp.Sub("reference"));
        ulong s = leader.Register();
        reference.Register();
        var workload = Workload(s, 1, 900, seed: 3, leader.NowMs);
        foreach (var command in workload.Take(500))
        {
            leader.Submit(command);
            reference.Submit(command);
        }

        using var snapshot = leader.Machine.TakeSnapshot();
        Assert.Equal(reference.Machine.AppliedIndex, snapshot.Index);
        var bytes = new MemoryStream();
        var writer = Task.Run(() => snapshot.WriteTo(bytes));
        foreach (var command in workload.Skip(500)) leader.Submit(command);
        await writer;

        Assert.Equal(reference.SnapshotBytes(), bytes.ToArray());
        using var follower = new Driver(_temp.Sub("follower"));
        bytes.Position = 0;
        follower.Machine.Restore(snapshot.Index, bytes);
        Assert.Equal(snapshot.Index, follower.Machine.AppliedIndex);
        Assert.Equal(reference.SnapshotBytes(), follower.SnapshotBytes());

        // The restored follower continues exactly like the reference, sessions included.
        foreach (var command in workload.Skip(500)) Assert.Equal(reference.Submit(command), follower.Submit(command));
        Assert.Equal(leader.SnapshotBytes(), follower.SnapshotBytes());

        // The restore is durable on its own: reopening finds it.
        follower.Reopen();
        Assert.Equal(snapshot.Index, follower.Machine.AppliedIndex);
    }

    [Fact]
    public void Corrupt_or_mismatched_snapshots_are_refused_and_change_nothing()
    {
        using var source = new Driver(_temp.Sub("source"));
        ulong s = source.Register();
        source.Put(s, 1, "k", "v");
        byte[] good = source.SnapshotBytes();

        using var target = new Driver(_temp.Sub("target"));
        ulong t = target.Register();
        target.Put(t, 1, "mine", "x");
        byte[] before = target.SnapshotBytes();

        byte[] flipped = (byte[])good.Clone();
        flipped[good.Length / 2] ^= 0x40;
        Assert.Throws<InvalidDataException>(() => target.Machine.Restore(source.Machine.AppliedIndex, new MemoryStream(flipped)));
        Assert.Throws<InvalidDataException>(() => target.Machine.Restore(source.Machine.AppliedIndex + 1, new MemoryStream(good)));
        Assert.ThrowsAny<Exception>(() => target.Machine.Restore(source.Machine.AppliedIndex, new MemoryStream(good[..^1])));
        Assert.Equal(before, target.SnapshotBytes());

        target.Machine.Restore(source.Machine.AppliedIndex, new MemoryStream(good));
        Assert.Equal("v", target.GetString("k"));
        Assert.Null(target.Machine.Get(Driver.Bytes("mine")));
    }
}
