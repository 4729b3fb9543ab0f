using RaftKv.Raft;
using RaftKv.Simulation;
using Xunit.Abstractions;

namespace RaftKv.Raft.Tests;

/// <summary>The core over the real WAL and snapshot store, on the fault-injecting simulated file system.</summary>
public sealed class StorageSimulationTests(ITestOutputHelper output)
{
    [Fact]
    public void Many_seeds_with_crashes_torn_writes_and_short_writes_on_the_real_WAL_have_no_violations()
    {
        var failures = new System.Collections.Concurrent.ConcurrentBag<SimulationResult>();
        int transfers = 0, chunksLost = 0, resumed = 0;
        Parallel.For(1, 251, seed =>
        {
            SimulationResult result = new ClusterSimulation(SimulationOptions.Swarm((ulong)seed, storage: SimulatedStorageKind.WriteAheadLog)).Run();
            Interlocked.Add(ref transfers, result.SnapshotTransfers);
            Interlocked.Add(ref chunksLost, result.SnapshotChunksLost);
            Interlocked.Add(ref resumed, result.SnapshotTransfersResumed);
            if (!result.Passed) failures.Add(result);
        });
        output.WriteLine($"chunked snapshot transfers={transfers} chunksLost={chunksLost} resumed={resumed}");
        foreach (SimulationResult failure in failures.OrderBy(f => f.Seed).Take(5))
        {
            output.WriteLine($"seed {failure.Seed}: {string.Join(" | ", failure.Violations)}\n  {failure.ReplayCommand}");
        }
        Assert.Empty(failures);
        // Snapshots travel in chunks through the real chunker and receiver; lost chunks break transfers, which resume.
        Assert.True(transfers > 50 && chunksLost > 10 && resumed > 0, $"transfers={transfers} chunksLost={chunksLost} resumed={resumed}");
    }

    [Fact]
    public void Compaction_bounds_the_disk_and_a_follower_down_for_the_whole_run_catches_up_by_InstallSnapshot()
    {
        const int thresholdBytes = 8 * 1024;
        const long segmentBytes = 4 * 1024;
        var options = new SimulationOptions
        {
            Seed = 5, NodeCount = 3, Storage = SimulatedStorageKind.WriteAheadLog, SnapshotThresholdBytes = thresholdBytes,
            SegmentSizeBytes = segmentBytes, CommandPaddingBytes = 100, MaxCommands = 1200, ProposalIntervalMs = 1,
        };
        var simulation = new ClusterSimulation(options);
        simulation.Start(1, 2); // node 3 stays down for the whole write phase

        // The stated bound: the uncompacted log (threshold, at most doubled by record framing and hard-state
        // records), two partly used segments, and the latest snapshot, which here holds 4 keys and one client session.
        const long boundBytes = 2 * thresholdBytes + 2 * segmentBytes + 16 * 1024;
        long maxUsage = 0;
        simulation.AfterEachEvent = () =>
        {
            foreach (ulong id in new ulong[] { 1, 2 })
            {
                maxUsage = Math.Max(maxUsage, ((WalSimulatedStorage)simulation.StorageOf(id)).DiskUsageBytes);
            }
        };
        bool written = simulation.RunUntil(120_000, () => simulation.ClientOperationsDone &&
                                                           simulation.StateMachineOf(1)?.AppliedIndex == simulation.StateMachineOf(2)?.AppliedIndex);
        Assert.True(written, "the client's writes did not all complete on the two live nodes");
        long logBytesWritten = options.MaxCommands * (8L + options.CommandPaddingBytes + 24);
        output.WriteLine($"wrote {logBytesWritten} log bytes ({logBytesWritten / thresholdBytes}x the threshold); max disk usage {maxUsage} B, bound {boundBytes} B");
        Assert.True(logBytesWritten >= 10 * thresholdBytes);
        Assert.InRange(maxUsage, 1, boundBytes);

        simulation.AfterEachEvent = null;
        simulation.StartNode(3);
        Assert.True(simulation.RunUntil(simulation.NowMs + 60_000, () =>
            simulation.StateMachineOf(3)?.AppliedIndex == simulation.StateMachineOf(1)!.AppliedIndex &&
            simulation.StateMachineOf(3)!.SnapshotBytes().AsSpan().SequenceEqual(simulation.StateMachineOf(1)!.SnapshotBytes())));
        Assert.NotNull(simulation.StorageOf(3).LatestSnapshot); // it got the state as a snapshot, not as entries
        Assert.True(simulation.StatusOf(3)!.SnapshotIndex > 1);
        Assert.Empty(simulation.Checker.Violations);
    }
}
