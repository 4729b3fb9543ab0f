using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RaftKv.ClientGateway;
using RaftKv.Grpc.Server;
using RaftKv.Mesh;
using RaftKv.Raft;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Silo;

/// <summary>Connects a silo's Raft driver to the gRPC peer mesh, in both directions.</summary>
internal static class PeerTransportFactory
{
    /// <summary>The outbound side: one long-lived stream per peer, reconnecting with backoff.</summary>
    public static (IRaftTransport Transport, IAsyncDisposable Mesh) Create(SiloOptions options, RaftDriver driver, ILoggerFactory loggerFactory)
    {
        var peers = options.Members.Where(m => m.Id != options.NodeId).ToDictionary(m => m.Id, m => m.PeerAddress);
        var mesh = new PeerMesh(options.NodeId, peers, driver, new MeshOptions(), loggerFactory.CreateLogger<PeerMesh>());
        return (new MeshTransport(mesh), mesh);
    }

    /// <summary>The inbound side, mapped before the node starts: messages reach the driver once it runs.</summary>
    public static IEndpointConventionBuilder MapPeerService(IEndpointRouteBuilder endpoints, SiloNode node)
    {
        ILogger logger = endpoints.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("RaftKv.Mesh.PeerService");
        return endpoints.MapGrpcService(PeerService.Definition(node.Options.NodeId, new InboundHandler(node), logger));
    }

    private sealed class MeshTransport(PeerMesh mesh) : IRaftTransport
    {
        public void Send(Message message) => mesh.Send(message);
    }

    /// <summary>Forwards to the running driver; before start (or after stop) peers are told the node is unavailable.</summary>
    private sealed class InboundHandler(SiloNode node) : IPeerMessageHandler
    {
        private RaftDriver Driver => node.Driver ?? throw new UnavailableException("the node is not running");

        public void OnMessage(Message message) => node.Driver?.OnMessage(message);

        public Task<ChunkReceipt> OnSnapshotChunkAsync(Message installSnapshot, SnapshotChunk chunk, CancellationToken cancellationToken) =>
            Driver.OnSnapshotChunkAsync(installSnapshot, chunk, cancellationToken);

        public Task<SnapshotChunker?> OpenLatestSnapshotAsync(CancellationToken cancellationToken) =>
            Driver.OpenLatestSnapshotAsync(cancellationToken);

        public void OnSnapshotFailed(ulong peer) => node.Driver?.OnSnapshotFailed(peer);
    }
}
