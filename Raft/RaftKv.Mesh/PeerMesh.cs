using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Grpc.Net.Client;
using RaftKv.Raft;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh;

/// <summary>
/// The client side of the peer mesh: delivers this node's outgoing Raft messages to its peers. Delivery is best
/// effort and ordered per peer while a stream lasts; Raft tolerates loss, so overflow and failures drop messages
/// rather than block or buffer without bound. Each peer has one bounded queue and one background sender keeping a
/// long-lived <c>Send</c> stream open; InstallSnapshot messages instead start a chunked snapshot transfer.
/// Thread-safe.
/// </summary>
public sealed partial class PeerMesh : IAsyncDisposable
{
    private static readonly Meter Meter = new("RaftKv.Mesh");
    private static readonly Counter<long> DroppedCounter = Meter.CreateCounter<long>("raftkv.mesh.dropped_messages", "{message}", "Outgoing Raft messages dropped (queue overflow, failed stream, unknown peer).");
    private static readonly Counter<long> SentCounter = Meter.CreateCounter<long>("raftkv.mesh.sent_messages", "{message}", "Outgoing Raft messages written to a peer stream.");

    private readonly ulong _selfId;
    // Copy-on-write: Send reads it without a lock; AddPeer replaces it under _peersLock.
    private volatile Dictionary<ulong, Peer> _peers = [];
    private readonly Lock _peersLock = new();
    private readonly List<Peer> _retiredPeers = [];
    private readonly IPeerMessageHandler _handler;
    private readonly MeshOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _snapshotTasksLock = new();
    private readonly HashSet<Task> _snapshotTasks = [];
    private long _droppedMessages;
    private int _disposed;

    public PeerMesh(ulong selfId, IReadOnlyDictionary<ulong, string> peerAddresses, IPeerMessageHandler handler, MeshOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(peerAddresses);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid {nameof(MeshOptions)}: {string.Join(" ", errors)}", nameof(options));
        }
        _selfId = selfId;
        _handler = handler;
        _options = options;
        _logger = logger;
        foreach ((ulong id, string address) in peerAddresses)
        {
            if (id == selfId)
            {
                continue;
            }
            _peers.Add(id, new Peer(this, id, address, CreateChannel(id, address, options)));
        }
        foreach (Peer peer in _peers.Values)
        {
            peer.Start(_stopping.Token);
        }
    }

    /// <summary>
    /// Starts delivering to <paramref name="id"/> at <paramref name="address"/> (a member that joined, or one whose
    /// address changed). A no-op when the peer is known at that address already; messages queued for the old address
    /// of a moved peer are dropped (Raft resends).
    /// </summary>
    public void AddPeer(ulong id, string address)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        if (id == _selfId) return;
        lock (_peersLock)
        {
            if (Volatile.Read(ref _disposed) != 0) return;
            if (_peers.TryGetValue(id, out Peer? known) && known.Address == address) return;
            var peer = new Peer(this, id, address, CreateChannel(id, address, _options));
            var next = new Dictionary<ulong, Peer>(_peers) { [id] = peer };
            _peers = next;
            if (known is not null)
            {
                known.Queue.Writer.TryComplete();
                _retiredPeers.Add(known);
                _ = ReleaseRetiredAsync(known);
            }
            peer.Start(_stopping.Token);
            MeshLog.PeerAdded(_logger, id, address);
        }
    }

    /// <summary>
    /// Disposes a retired peer's channel (its pooled HTTP/2 connections to the old address, which are never idle-closed)
    /// once its sender has ended and its snapshot transfer, if any, has finished. Kept until the mesh is disposed, every
    /// move of a member would leave one behind for the life of the process.
    /// </summary>
    private async Task ReleaseRetiredAsync(Peer peer)
    {
        await peer.SenderTask.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await peer.SnapshotTask.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_peersLock)
        {
            // DisposeAsync took the retired peers over (and disposes them).
            if (!_retiredPeers.Remove(peer)) return;
        }
        peer.Channel.Dispose();
    }

    /// <summary>Peers replaced by <see cref="AddPeer"/> whose channels are not released yet (for tests).</summary>
    internal int RetiredPeerCount
    {
        get
        {
            lock (_peersLock) return _retiredPeers.Count;
        }
    }

    /// <summary>Outgoing messages dropped so far (queue overflow, failed batches, unknown peers).</summary>
    public long DroppedMessages => Interlocked.Read(ref _droppedMessages);

    /// <summary>
    /// Queues <paramref name="message"/> for <see cref="Message.To"/>. Never blocks and never throws for a peer
    /// being down: the message is dropped (and counted) if it cannot be delivered.
    /// </summary>
    public void Send(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_peers.TryGetValue(message.To, out Peer? peer))
        {
            MeshLog.UnknownPeer(_logger, message, message.To);
            CountDropped(1);
            return;
        }
        if (message.Type == MessageType.InstallSnapshot)
        {
            MaybeStartSnapshotTransfer(peer, message);
            return;
        }
        if (!peer.Queue.Writer.TryWrite(message))
        {
            // Only after disposal: the bounded channel drops the oldest message instead of refusing a write.
            CountDropped(1);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        Peer[] peers;
        lock (_peersLock)
        {
            peers = [.. _peers.Values, .. _retiredPeers];
            _retiredPeers.Clear();
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (Peer peer in peers)
        {
            peer.Queue.Writer.TryComplete();
        }
        Task[] snapshotTasks;
        lock (_snapshotTasksLock)
        {
            snapshotTasks = [.. _snapshotTasks];
        }
        await Task.WhenAll(peers.Select(peer => peer.SenderTask).Concat(snapshotTasks)).ConfigureAwait(false);
        foreach (Peer peer in peers)
        {
            peer.Channel.Dispose();
        }
        _stopping.Dispose();
    }

    /// <summary>
    /// One HTTP/2 connection pool per peer (h2c for "http://" addresses). Idle connections are kept: the Send stream
    /// is long-lived, and reconnecting after a quiet spell would only add latency to the next heartbeat.
    /// </summary>
    internal static GrpcChannel CreateChannel(ulong peerId, string address, MeshOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.KeepAlivePingTimeout,
            // Pinging idle connections gets clients disconnected by servers enforcing gRPC's ping policy.
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
        // One address per peer, and the mesh reconnects by itself: Grpc.Net.Client's load balancing (its own connection
        // management, a wrapper around each connection's stream) would be work without a purpose on every message
        // batch. The same switch as RaftKvClientOptions.WithoutGrpcLoadBalancing, which this library cannot reference.
        handler.Properties["__GrpcLoadBalancingDisabled"] = true;
        if (options.PeerTls is not null && address.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            handler.SslOptions = options.PeerTls(peerId);
        }
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxMessageSizeBytes,
            MaxSendMessageSize = options.MaxMessageSizeBytes,
        });
    }

    private void CountDropped(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _droppedMessages, count);
            DroppedCounter.Add(count);
        }
    }

    /// <summary>One remote node: its queue, channel, sender loop and snapshot transfer slot.</summary>
    private sealed class Peer
    {
        private readonly PeerMesh _mesh;
        private int _snapshotRunning;

        public Peer(PeerMesh mesh, ulong id, string address, GrpcChannel channel)
        {
            _mesh = mesh;
            Id = id;
            Address = address;
            Channel = channel;
            Client = new Wire.RaftPeer.RaftPeerClient(channel);
            Queue = System.Threading.Channels.Channel.CreateBounded<Message>(
                new BoundedChannelOptions(mesh._options.MaxQueuedMessagesPerPeer)
                {
                    FullMode = BoundedChannelFullMode.DropOldest,
                    SingleReader = true,
                    SingleWriter = false,
                    AllowSynchronousContinuations = false,
                },
                OnDropped);
        }

        public ulong Id { get; }

        public string Address { get; }

        public GrpcChannel Channel { get; }

        public Wire.RaftPeer.RaftPeerClient Client { get; }

        public Channel<Message> Queue { get; }

        public Task SenderTask { get; private set; } = Task.CompletedTask;

        /// <summary>The latest snapshot transfer to this peer (completed when none ran).</summary>
        public Task SnapshotTask { get; set; } = Task.CompletedTask;

        public void Start(CancellationToken cancellationToken) =>
            SenderTask = Task.Run(() => _mesh.RunSenderAsync(this, cancellationToken), CancellationToken.None);

        /// <summary>Claims the peer's single snapshot transfer slot.</summary>
        public bool TryBeginSnapshot() => Interlocked.CompareExchange(ref _snapshotRunning, 1, 0) == 0;

        public void EndSnapshot() => Volatile.Write(ref _snapshotRunning, 0);

        private void OnDropped(Message message)
        {
            MeshLog.QueueOverflow(_mesh._logger, Id, message);
            _mesh.CountDropped(1);
        }
    }
}
