using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Node.Tests;

/// <summary>The driver's receipt of snapshots streamed in chunks (Raft thesis 5.3) and the Ready that installs them.</summary>
public sealed class SnapshotReceiptTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "raftkv-node-tests", Guid.NewGuid().ToString("N"));

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_snapshot_published_by_a_deposed_leader_in_the_same_step_does_not_replace_the_one_the_core_installs()
    {
        using var scenario = new NewerSnapshotPublishedThanInstalled(_directory, snapshotThresholdBytes: 64L << 20);

        Assert.Null(scenario.Fatal);
        Assert.Equal(5UL, scenario.Driver.Status.SnapshotIndex);
        Assert.Equal(5UL, scenario.StateMachine.AppliedIndex);
        Assert.Equal(6UL, scenario.Driver.Status.Term);
    }

    [Fact]
    public void A_node_applying_below_a_published_snapshot_does_not_write_snapshots_that_would_be_discarded()
    {
        // The store's latest snapshot (8, from the deposed leader) is ahead of what the core installed (5) and of what
        // the node then applies (7): any snapshot it took now would be older than the published one and be dropped
        // when written, and the next step would take it again.
        using var scenario = new NewerSnapshotPublishedThanInstalled(_directory, snapshotThresholdBytes: 1);
        LogEntry Entry(ulong index) => new(index, 6, EntryType.NoOp, new byte[100]);
        scenario.Driver.OnMessage(new Message
        {
            Type = MessageType.AppendEntries, From = 1, To = 2, Term = 6, LogIndex = 5, LogTerm = 4, Entries = [Entry(6), Entry(7)], Commit = 7,
        });
        for (int step = 0; step < 5; step++) scenario.Driver.RunOnce();

        Assert.Null(scenario.Fatal);
        Assert.Equal(7UL, scenario.StateMachine.AppliedIndex);
        Assert.Equal(8UL, scenario.Storage.LatestSnapshot?.Index);
        Assert.Equal(0, scenario.BackgroundRuns);
    }

    /// <summary>
    /// Node 2 completes snapshot S (5@4) from leader 1 (term 6), and in the same drain a single-chunk, newer snapshot
    /// S2 (8@5) from node 3, a deposed leader of term 5 whose transfer kept going. The receiver publishes S2 (newer
    /// wins), the core refuses its InstallSnapshot (stale term) and stages S, which the step installs.
    /// </summary>
    private sealed class NewerSnapshotPublishedThanInstalled : IDisposable, IBackgroundScheduler
    {
        private readonly FasterKvStateMachine _source;
        private readonly SteppedNode _node;

        public NewerSnapshotPublishedThanInstalled(string directory, long snapshotThresholdBytes)
        {
            _node = new SteppedNode(directory, TimeProvider.System, new RaftDriverSeams { RandomSeed = 7, CompleteCallersInline = true, Background = this },
                e => Fatal = e, snapshotThresholdBytes);
            _source = FasterKvStateMachine.Open(Path.Combine(directory, "source"), _node.Options.ToStateMachineOptions());
            byte[] ImageAt(ulong index)
            {
                for (ulong i = _source.AppliedIndex + 1; i <= index; i++) _source.Apply(new LogEntry(i, 4, EntryType.NoOp, ReadOnlyMemory<byte>.Empty));
                using IStateMachineSnapshot snapshot = _source.TakeSnapshot();
                using var stream = new MemoryStream();
                snapshot.WriteTo(stream);
                return stream.ToArray();
            }
            byte[] image = ImageAt(5), image2 = ImageAt(8);

            ClusterConfiguration configuration = _node.Configuration;
            var s = new SnapshotMetadata(5, 4, configuration);
            var s2 = new SnapshotMetadata(8, 5, configuration);
            uint crc = Crc32C.Compute(image), crc2 = Crc32C.Compute(image2);
            _ = Driver.OnSnapshotChunkAsync(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 6, Snapshot = s },
                new SnapshotChunk(s, 0, image, crc, image.Length, crc), CancellationToken.None);
            _ = Driver.OnSnapshotChunkAsync(new Message { Type = MessageType.InstallSnapshot, From = 3, To = 2, Term = 5, Snapshot = s2 },
                new SnapshotChunk(s2, 0, image2, crc2, image2.Length, crc2), CancellationToken.None);
            Driver.RunOnce();
        }

        public RaftDriver Driver => _node.Driver;

        public NodeStorage Storage => _node.Storage;

        public FasterKvStateMachine StateMachine => _node.StateMachine;

        public Exception? Fatal { get; private set; }

        /// <summary>Background work the driver started (snapshot writes); run inline, as the simulator does between steps.</summary>
        public int BackgroundRuns { get; private set; }

        public void Run(Action work)
        {
            BackgroundRuns++;
            work();
        }

        public void Dispose()
        {
            _node.Dispose();
            _source.Dispose();
        }
    }
}
