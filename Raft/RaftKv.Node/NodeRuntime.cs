using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using RaftKv.Mesh;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Node;

/// <summary>
/// One Raft node with everything it owns: the WAL and snapshots, the FASTER state machine, the Raft driver loop and
/// the outbound peer mesh. It knows nothing about hosting: a silo starts it before Orleans and stops it after, and
/// maps <see cref="PeerHandler"/> on its peer port. Start order: open the WAL and snapshots, recover FASTER, start the
/// Raft loop, connect the peer mesh. Stop runs in reverse: the mesh, then the loop (which checkpoints FASTER), then
/// storage.
/// </summary>
public sealed class NodeRuntime : IRaftKvNode, IAsyncDisposable
{
    private readonly NodeOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _timeProvider;
    private readonly Action<Exception> _onFatal;
    private NodeStorage? _storage;
    private FasterKvStateMachine? _stateMachine;
    private RaftDriver? _driver;
    private PeerMesh? _mesh;
    private readonly WalMetrics _walMetrics;

    /// <param name="onFatal">Called (once, from the driver thread) when an I/O error stops the node: fail-stop.</param>
    public NodeRuntime(NodeOptions options, ILoggerFactory loggerFactory, TimeProvider timeProvider, Action<Exception> onFatal, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _loggerFactory = loggerFactory;
        _timeProvider = timeProvider;
        _onFatal = onFatal;
        PeerHandler = new InboundHandler(this);
        Metrics = new NodeMetrics(options.NodeId, () => _driver?.Status, meterFactory);
        _walMetrics = new WalMetrics([new("node_id", (long)options.NodeId)], meterFactory);
    }

    /// <summary>Options of the outgoing peer mesh (TLS to peers, queue sizes); set before <see cref="Start"/>.</summary>
    public MeshOptions MeshOptions { get; init; } = new();

    /// <summary>The node's meters; they report nothing while the node is stopped.</summary>
    public NodeMetrics Metrics { get; }

    public NodeOptions Options => _options;

    /// <summary>The running driver; null before start or after stop.</summary>
    public RaftDriver? Driver => _driver;

    /// <summary>Inbound peer traffic; before start (or after stop) peers are told the node is unavailable.</summary>
    public IPeerMessageHandler PeerHandler { get; }

    public void Start()
    {
        if (_driver is not null) throw new InvalidOperationException("the node is already running");
        // Not created here: NodeStorage.Open creates it, if missing, durably.
        string dataDirectory = Path.GetFullPath(_options.DataDirectory);
        // A joining node starts as nobody's member: it neither campaigns nor votes until the leader's log (or
        // snapshot) tells it the configuration that includes it.
        var configuration = _options.Join is null ? new ClusterConfiguration(_options.Members.Select(m => m.Id)) : new ClusterConfiguration([]);
        _storage = NodeStorage.Open(new PhysicalFileSystem(), Path.Combine(dataDirectory, "raft"),
            new WalOptions { SegmentSizeBytes = _options.WalSegmentSizeBytes }, configuration, _walMetrics);
        _stateMachine = FasterKvStateMachine.Open(Path.Combine(dataDirectory, "kv"), _options.ToStateMachineOptions());
        var driver = new RaftDriver(_options, _storage, _stateMachine, _timeProvider, Metrics, _loggerFactory.CreateLogger<RaftDriver>(), _onFatal);
        driver.LeadershipChanged += status => LeadershipChanged?.Invoke(status);
        var peers = _options.Members.Where(m => m.Id != _options.NodeId).ToDictionary(m => m.Id, m => m.PeerAddress);
        _mesh = new PeerMesh(_options.NodeId, peers, driver, MeshOptions, _loggerFactory.CreateLogger<PeerMesh>());
        driver.Start(new MeshTransport(_mesh));
        _driver = driver;
    }

    public async Task StopAsync()
    {
        bool running = _driver is not null;
        long start = _timeProvider.GetTimestamp();
        if (_mesh is not null) await _mesh.DisposeAsync().ConfigureAwait(false);
        long meshStopped = _timeProvider.GetTimestamp();
        if (_driver is not null) await _driver.StopAsync().ConfigureAwait(false);
        _driver?.Dispose();
        long driverStopped = _timeProvider.GetTimestamp();
        _stateMachine?.Dispose();
        _storage?.Dispose();
        long stopped = _timeProvider.GetTimestamp();
        if (running)
        {
            long Ms(long from, long to) => (long)_timeProvider.GetElapsedTime(from, to).TotalMilliseconds;
            NodeLog.Stopped(_loggerFactory.CreateLogger<NodeRuntime>(), _options.NodeId, Ms(start, stopped), Ms(start, meshStopped),
                Ms(meshStopped, driverStopped), Ms(driverStopped, stopped));
        }
        _mesh = null;
        _driver = null;
        _stateMachine = null;
        _storage = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Metrics.Dispose();
        _walMetrics.Dispose();
    }

    private RaftDriver Running => _driver ?? throw new UnavailableException("the node is not running", mayHaveBeenApplied: false);

    public ulong NodeId => _options.NodeId;

    public RaftStatus Status => Running.Status;

    /// <inheritdoc />
    public event Action<RaftStatus>? LeadershipChanged;

    public IKvStateMachine StateMachine => Running.StateMachine;

    public Task<ReadOnlyMemory<byte>> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken) =>
        Running.ProposeAsync(command, cancellationToken);

    public Task ReadIndexAsync(CancellationToken cancellationToken) => Running.ReadIndexAsync(cancellationToken);

    public string? ClientAddressOf(ulong nodeId) => Running.ClientAddressOf(nodeId);

    public ClusterMembership Membership => Running.Membership;

    public Task<ClusterMembership> AddLearnerAsync(NodeMember member, CancellationToken cancellationToken) => Running.AddLearnerAsync(member, cancellationToken);

    public Task<ClusterMembership> PromoteLearnerAsync(ulong nodeId, CancellationToken cancellationToken) => Running.PromoteLearnerAsync(nodeId, cancellationToken);

    public Task<ClusterMembership> RemoveMemberAsync(ulong nodeId, CancellationToken cancellationToken) => Running.RemoveMemberAsync(nodeId, cancellationToken);

    public Task<ClusterMembership> TransferLeadershipAsync(ulong target, CancellationToken cancellationToken) => Running.TransferLeadershipAsync(target, cancellationToken);

    /// <summary>See <see cref="RaftDriver.HandOffLeadershipAsync"/>; false when the node is not running.</summary>
    public Task<bool> HandOffLeadershipAsync() => _driver?.HandOffLeadershipAsync() ?? Task.FromResult(false);

    public Task<CapturedSnapshot> CaptureSnapshotAsync(CancellationToken cancellationToken) => Running.CaptureSnapshotAsync(cancellationToken);

    private sealed class MeshTransport(PeerMesh mesh) : IRaftTransport
    {
        public void Send(Message message) => mesh.Send(message);

        public void AddPeer(ulong id, string peerAddress) => mesh.AddPeer(id, peerAddress);
    }

    /// <summary>Forwards to the running driver, so the peer port can be open before the node starts.</summary>
    private sealed class InboundHandler(NodeRuntime node) : IPeerMessageHandler
    {
        public void OnMessage(Message message) => node.Driver?.OnMessage(message);

        public Task<Storage.Snapshots.ChunkReceipt> OnSnapshotChunkAsync(Message installSnapshot, Storage.Snapshots.SnapshotChunk chunk, CancellationToken cancellationToken) =>
            node.Running.OnSnapshotChunkAsync(installSnapshot, chunk, cancellationToken);

        public Task<Storage.Snapshots.SnapshotChunker?> OpenLatestSnapshotAsync(CancellationToken cancellationToken) =>
            node.Running.OpenLatestSnapshotAsync(cancellationToken);

        public void OnSnapshotFailed(ulong peer) => node.Driver?.OnSnapshotFailed(peer);
    }
}
