using System.Diagnostics;
using RaftKv.Raft;
using RaftKv.Simulation;

namespace RaftKv.Benchmarks;

/// <summary>
/// The ceiling for everything above the core: proposals committed per second by a 3-node cluster of pure
/// <see cref="RaftNode"/>s wired together in memory, with no I/O, no threads and instant "fsync". A leader proposes
/// a batch, then all messages are delivered until the batch is committed and applied on the leader.
/// </summary>
internal static class CoreThroughput
{
    public static void Run(string[] args)
    {
        double seconds = BenchmarkArguments.Option(args, "--seconds", 5);
        int batch = (int)BenchmarkArguments.Option(args, "--batch", 256);
        int payloadBytes = (int)BenchmarkArguments.Option(args, "--payload", 128);
        foreach (int b in batch > 0 ? new[] { 1, 16, batch } : [256])
        {
            (long committed, double elapsed) = Measure(b, payloadBytes, seconds);
            Console.WriteLine($"core: 3 nodes, in-memory, batch={b,4}, payload={payloadBytes}B: {committed / elapsed,12:N0} commits/s ({committed:N0} in {elapsed:F1}s)");
        }
    }

    private static (long Committed, double Seconds) Measure(int batch, int payloadBytes, double seconds)
    {
        var configuration = new ClusterConfiguration([1, 2, 3]);
        var nodes = new Dictionary<ulong, RaftNode>();
        foreach (ulong id in configuration.Voters)
        {
            nodes[id] = new RaftNode(new RaftOptions { NodeId = id, RandomSeed = id }, PersistentState.ForNewCluster(configuration));
        }
        var queue = new Queue<Message>();
        RaftNode leader = nodes[1];
        while (leader.Role != RaftRole.Leader)
        {
            leader.Tick();
            Pump(nodes, queue);
        }
        var payload = new byte[payloadBytes];
        ulong startCommit = leader.Status.CommitIndex;
        var stopwatch = Stopwatch.StartNew();
        int round = 0;
        while (stopwatch.Elapsed.TotalSeconds < seconds)
        {
            for (int i = 0; i < batch; i++) leader.Propose(payload);
            ulong target = leader.Status.LastIndex;
            while (leader.Status.AppliedIndex < target) Pump(nodes, queue);
            if (++round % 64 == 0)
            {
                foreach (RaftNode node in nodes.Values) node.Tick(); // heartbeats and timers keep running
                Pump(nodes, queue);
            }
        }
        stopwatch.Stop();
        return ((long)(leader.Status.CommitIndex - startCommit), stopwatch.Elapsed.TotalSeconds);
    }

    /// <summary>Carries out every node's Ready (instant persistence) and delivers messages until all is quiet.</summary>
    private static void Pump(Dictionary<ulong, RaftNode> nodes, Queue<Message> queue)
    {
        bool progress = true;
        while (progress)
        {
            progress = false;
            foreach (RaftNode node in nodes.Values)
            {
                // The scenario tests' Ready loop, with nothing to persist or apply.
                if (InstantReadyLoop.Drain(node, queue.Enqueue) > 0) progress = true;
            }
            while (queue.TryDequeue(out Message? message))
            {
                progress = true;
                nodes[message.To].Step(message);
            }
        }
    }
}
