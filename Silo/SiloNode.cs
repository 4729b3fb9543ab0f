using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftKv.ClientGateway;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Silo;

/// <summary>
/// The node inside a silo process, as a hosted service. Start order: open the WAL and snapshots, recover FASTER,
/// start the Raft loop, connect the peer mesh; the host opens the peer and client ports after this returns
/// (hosted services start before Kestrel listens). Stop runs in reverse: the ports close first, then the mesh,
/// then the loop (which checkpoints FASTER), then storage.
/// </summary>
public sealed class SiloNode(SiloOptions options, ILoggerFactory loggerFactory, IHostApplicationLifetime lifetime) : IHostedService, IRaftKvNode
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<SiloNode>();
    private NodeStorage? _storage;
    private FasterKvStateMachine? _stateMachine;
    private RaftDriver? _driver;
    private IAsyncDisposable? _mesh;

    /// <summary>The running driver; null before start or after stop.</summary>
    public RaftDriver? Driver => _driver;

    public SiloOptions Options => options;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        string dataDirectory = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(dataDirectory);
        var configuration = new ClusterConfiguration(options.Members.Select(m => m.Id));
        _storage = NodeStorage.Open(new PhysicalFileSystem(), Path.Combine(dataDirectory, "raft"),
            new WalOptions { SegmentSizeBytes = options.WalSegmentSizeBytes }, configuration);
        _stateMachine = FasterKvStateMachine.Open(Path.Combine(dataDirectory, "kv"),
            new StateMachineOptions { LogMemorySizeBytes = options.StateMachineMemoryBytes });
        _driver = new RaftDriver(options, _storage, _stateMachine, loggerFactory.CreateLogger<RaftDriver>(), OnFatal);
        (IRaftTransport transport, IAsyncDisposable mesh) = PeerTransportFactory.Create(options, _driver, loggerFactory);
        _mesh = mesh;
        _driver.Start(transport);
        if (options.ParentProcessId != 0) _ = WatchParentAsync(options.ParentProcessId);
        SiloLog.Serving(_logger, options.NodeId, options.Self.ClientAddress, options.Self.PeerAddress, dataDirectory);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_mesh is not null) await _mesh.DisposeAsync().ConfigureAwait(false);
        if (_driver is not null) await _driver.StopAsync().ConfigureAwait(false);
        _driver?.Dispose();
        _stateMachine?.Dispose();
        _storage?.Dispose();
    }

    private async Task WatchParentAsync(int parentProcessId)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(lifetime.ApplicationStopping).ConfigureAwait(false))
            {
                if (!IsRunning(parentProcessId))
                {
                    lifetime.StopApplication();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private void OnFatal(Exception error)
    {
        SiloLog.Fatal(_logger, options.NodeId, error);
        Environment.ExitCode = 70;
        lifetime.StopApplication();
    }

    private RaftDriver Running => _driver ?? throw new UnavailableException("the node is not running");

    ulong IRaftKvNode.NodeId => options.NodeId;

    RaftStatus IRaftKvNode.Status => Running.Status;

    FasterKvStateMachine IRaftKvNode.StateMachine => Running.StateMachine;

    Task<ReadOnlyMemory<byte>> IRaftKvNode.ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken) =>
        Running.ProposeAsync(command, cancellationToken);

    Task IRaftKvNode.ReadIndexAsync(CancellationToken cancellationToken) => Running.ReadIndexAsync(cancellationToken);

    string? IRaftKvNode.ClientAddressOf(ulong nodeId) => Running.ClientAddressOf(nodeId);
}
