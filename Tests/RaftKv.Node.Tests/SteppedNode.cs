using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Node.Tests;

/// <summary>
/// Node 2 of members 1-3 on real storage (a WAL and FASTER under its own directory), stepped by the test as the
/// simulator steps its nodes: nothing runs unless the test calls <see cref="RaftDriver.RunOnce"/>, and what it sends
/// is recorded in <see cref="Sent"/> (and handed to <see cref="OnSend"/>).
/// </summary>
internal sealed class SteppedNode : IDisposable, IRaftTransport
{
    private readonly NodeMetrics _metrics;

    public SteppedNode(string directory, TimeProvider time, RaftDriverSeams seams, Action<Exception> fatal, long snapshotThresholdBytes = 64L << 20,
        ILogger? logger = null, IMeterFactory? meters = null)
    {
        ulong[] members = [1, 2, 3];
        Configuration = new ClusterConfiguration(members);
        Options = new NodeOptions
        {
            NodeId = 2,
            DataDirectory = directory,
            Members = [.. members.Select(InMemoryNodeCluster.MemberOf)],
            StateMachineMemoryBytes = 1L << 23,
            SnapshotThresholdBytes = snapshotThresholdBytes,
        };
        Directory.CreateDirectory(directory);
        Storage = NodeStorage.Open(new PhysicalFileSystem(), Path.Combine(directory, "raft"), new WalOptions(), Configuration);
        StateMachine = FasterKvStateMachine.Open(Path.Combine(directory, "kv"), Options.ToStateMachineOptions());
        _metrics = new NodeMetrics(2, () => null, meters);
        Driver = new RaftDriver(Options, Storage, StateMachine, time, _metrics, logger ?? NullLogger.Instance, fatal, seams);
        Driver.Attach(this);
    }

    public NodeOptions Options { get; }

    public ClusterConfiguration Configuration { get; }

    public NodeStorage Storage { get; }

    public FasterKvStateMachine StateMachine { get; }

    public RaftDriver Driver { get; }

    /// <summary>Every message the node sent, in order.</summary>
    public List<Message> Sent { get; } = [];

    /// <summary>Runs on the driver's thread for each message sent (a test's hook into the middle of a step).</summary>
    public Action<Message>? OnSend { get; set; }

    void IRaftTransport.Send(Message message)
    {
        Sent.Add(message);
        OnSend?.Invoke(message);
    }

    public void Dispose()
    {
        Driver.Dispose();
        _metrics.Dispose();
        StateMachine.Dispose();
        Storage.Dispose();
    }
}
