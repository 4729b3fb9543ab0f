using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Node.Tests;

/// <summary>
/// Real <see cref="RaftDriver"/>s (real WAL, real FASTER, system clock) wired by an in-memory transport instead of the
/// gRPC mesh: the node runtime's membership and fail-fast paths without Kestrel. Snapshots are not carried (the log is
/// never compacted at these sizes); the real-process tests cover catch-up by snapshot.
/// </summary>
internal sealed class InMemoryNodeCluster : IAsyncDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "raftkv-node-membership", Guid.NewGuid().ToString("N"));
    private readonly ConcurrentDictionary<ulong, Hosted> _nodes = new();
    private readonly ulong[] _initialVoters;
    private readonly Func<NodeOptions, NodeOptions> _configure;
    private readonly Func<ulong, TimeProvider> _time;

    /// <param name="time">Each node's clock and timers (the system's by default).</param>
    public InMemoryNodeCluster(int voters, Func<NodeOptions, NodeOptions>? configure = null, Func<ulong, TimeProvider>? time = null)
    {
        _initialVoters = [.. Enumerable.Range(1, voters).Select(i => (ulong)i)];
        _configure = configure ?? (o => o);
        _time = time ?? (_ => TimeProvider.System);
        foreach (ulong id in _initialVoters) Start(id, join: false);
    }

    public RaftDriver this[ulong id] => _nodes[id].Driver;

    /// <summary>Stops node <paramref name="id"/> as a crash would look to its peers: it sends and answers nothing more.</summary>
    public async Task StopAsync(ulong id)
    {
        if (!_nodes.TryRemove(id, out Hosted? node)) return;
        await node.Driver.StopAsync();
        node.Driver.Dispose();
        node.StateMachine.Dispose();
        node.Storage.Dispose();
        node.Metrics.Dispose();
    }

    public IEnumerable<RaftDriver> Running => _nodes.Values.Select(n => n.Driver);

    public static NodeMember MemberOf(ulong id) =>
        new() { Id = id, PeerAddress = $"http://127.0.0.1:{7200 + id}", ClientAddress = $"http://127.0.0.1:{7100 + id}" };

    /// <summary>Starts node <paramref name="id"/>; a joining node starts with an empty configuration, as a silo with RaftKv:Join does.</summary>
    public RaftDriver Start(ulong id, bool join)
    {
        NodeOptions options = _configure(new NodeOptions
        {
            NodeId = id,
            DataDirectory = Path.Combine(_root, id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            Members = join ? [MemberOf(id)] : [.. _initialVoters.Select(MemberOf)],
            Join = join ? MemberOf(_initialVoters[0]).ClientAddress : null,
            TickIntervalMs = 10,
            HeartbeatIntervalMs = 30,
            ElectionTimeoutMs = 200,
            StateMachineMemoryBytes = 1L << 23,
        });
        Assert.Empty(options.Validate());
        Directory.CreateDirectory(options.DataDirectory);
        var configuration = join ? new ClusterConfiguration([]) : new ClusterConfiguration(_initialVoters);
        var storage = NodeStorage.Open(new PhysicalFileSystem(), Path.Combine(options.DataDirectory, "raft"), new WalOptions(), configuration);
        var stateMachine = FasterKvStateMachine.Open(Path.Combine(options.DataDirectory, "kv"), options.ToStateMachineOptions());
        RaftDriver driver = null!;
        var metrics = new NodeMetrics(id, () => driver?.Status);
        driver = new RaftDriver(options, storage, stateMachine, _time(id), metrics, NullLogger.Instance, e => throw new InvalidOperationException("fatal", e));
        var hosted = new Hosted(driver, storage, stateMachine, metrics);
        _nodes[id] = hosted;
        driver.Start(new Transport(this));
        return driver;
    }

    public async Task<ulong> WaitForLeaderAsync(Func<ulong, bool>? accept = null)
    {
        ulong leader = 0;
        await Eventually.TrueAsync(() =>
        {
            leader = Running.Where(d => d.Status.Role == RaftRole.Leader && (accept?.Invoke(d.NodeId) ?? true))
                .Select(d => d.NodeId).FirstOrDefault();
            return leader != 0;
        }, "a leader is elected");
        return leader;
    }

    /// <summary>Registers a session on the leader and returns a function that writes key i through it.</summary>
    public async Task<Func<RaftDriver, int, Task<KvReply>>> SessionWriterAsync(RaftDriver leader)
    {
        KvReply session = Decode(await leader.ProposeAsync(KvCommand.RegisterSession(NowMs()).Encode(), CancellationToken.None));
        ulong sequence = 0;
        return async (node, i) => Decode(await node.ProposeAsync(
            KvCommand.Put(session.SessionId, ++sequence, NowMs(), Encoding.UTF8.GetBytes($"k{i}"), Encoding.UTF8.GetBytes($"v{i}")).Encode(), CancellationToken.None));
    }

    /// <summary>Command timestamps are the log's clock; the driver stamps its own writes (the address book) with real time too.</summary>
    private static long NowMs() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public static KvReply Decode(ReadOnlyMemory<byte> bytes) => KvReply.TryDecode(bytes, out KvReply? reply) ? reply : throw new InvalidDataException("undecodable reply");

    public async ValueTask DisposeAsync()
    {
        foreach (Hosted node in _nodes.Values)
        {
            await node.Driver.StopAsync();
            node.Driver.Dispose();
            node.StateMachine.Dispose();
            node.Storage.Dispose();
            node.Metrics.Dispose();
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed record Hosted(RaftDriver Driver, NodeStorage Storage, FasterKvStateMachine StateMachine, NodeMetrics Metrics);

    private sealed class Transport(InMemoryNodeCluster cluster) : IRaftTransport
    {
        public void Send(Message message)
        {
            if (message.Type == MessageType.InstallSnapshot) return; // not modelled here (see the class summary)
            if (cluster._nodes.TryGetValue(message.To, out Hosted? to)) to.Driver.OnMessage(message);
        }
    }
}

internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, int timeoutMs = 20_000)
    {
        using var deadline = new CancellationTokenSource(timeoutMs);
        while (!condition())
        {
            if (deadline.IsCancellationRequested) Assert.Fail($"timed out after {timeoutMs} ms waiting until {what}");
            await Task.Delay(10, CancellationToken.None);
        }
    }
}
