using Microsoft.Extensions.Logging.Abstractions;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;
using RaftKv.Storage.Wal;

namespace RaftKv.Node.Tests;

/// <summary>The driver's receipt of snapshots streamed in chunks (Raft thesis 5.3) and the Ready that installs them.</summary>
public sealed class SnapshotReceiptTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "raftkv-node-tests", Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private sealed class NullTransport : IRaftTransport
    {
        public void Send(Message message)
        {
        }
    }

    [Fact]
    public void A_snapshot_published_by_a_deposed_leader_in_the_same_step_does_not_replace_the_one_the_core_installs()
    {
        // Node 2 completes snapshot S from leader 1 (term 6), and in the same drain a single-chunk, newer snapshot S2
        // from node 3, a deposed leader of term 5 whose transfer kept going. The receiver publishes S2 (newer wins), the
        // core refuses its InstallSnapshot (stale term) and stages S. The Ready must still install S, not trip over S2.
        var members = new[] { 1UL, 2UL, 3UL };
        var configuration = new ClusterConfiguration(members);
        var options = new NodeOptions
        {
            NodeId = 2,
            DataDirectory = _directory,
            Members = [.. members.Select(InMemoryNodeCluster.MemberOf)],
            StateMachineMemoryBytes = 1L << 23,
        };
        Directory.CreateDirectory(_directory);
        using var storage = NodeStorage.Open(new PhysicalFileSystem(), Path.Combine(_directory, "raft"), new WalOptions(), configuration);
        using var stateMachine = FasterKvStateMachine.Open(Path.Combine(_directory, "kv"), options.ToStateMachineOptions());
        using var source = FasterKvStateMachine.Open(Path.Combine(_directory, "source"), options.ToStateMachineOptions());
        byte[] ImageAt(ulong index)
        {
            for (ulong i = source.AppliedIndex + 1; i <= index; i++) source.Apply(new LogEntry(i, 4, EntryType.NoOp, ReadOnlyMemory<byte>.Empty));
            using IStateMachineSnapshot snapshot = source.TakeSnapshot();
            using var stream = new MemoryStream();
            snapshot.WriteTo(stream);
            return stream.ToArray();
        }
        byte[] image = ImageAt(5), image2 = ImageAt(8);
        Exception? fatal = null;
        using var metrics = new NodeMetrics(2, () => null);
        using var driver = new RaftDriver(options, storage, stateMachine, TimeProvider.System, metrics, NullLogger.Instance, e => fatal = e,
            new RaftDriverSeams { RandomSeed = 7, CompleteCallersInline = true });
        driver.Attach(new NullTransport());

        var s = new SnapshotMetadata(5, 4, configuration);
        var s2 = new SnapshotMetadata(8, 5, configuration);
        uint crc = Crc32C.Compute(image), crc2 = Crc32C.Compute(image2);
        _ = driver.OnSnapshotChunkAsync(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 6, Snapshot = s },
            new SnapshotChunk(s, 0, image, crc, image.Length, crc), CancellationToken.None);
        _ = driver.OnSnapshotChunkAsync(new Message { Type = MessageType.InstallSnapshot, From = 3, To = 2, Term = 5, Snapshot = s2 },
            new SnapshotChunk(s2, 0, image2, crc2, image2.Length, crc2), CancellationToken.None);

        driver.RunOnce();

        Assert.Null(fatal);
        Assert.Equal(5UL, driver.Status.SnapshotIndex);
        Assert.Equal(5UL, stateMachine.AppliedIndex);
        Assert.Equal(6UL, driver.Status.Term);
    }
}
