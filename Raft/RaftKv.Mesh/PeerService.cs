using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using RaftKv.Raft;
using RaftKv.Storage.Snapshots;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh;

/// <summary>
/// The server side of <c>raftkv.peer.v1.RaftPeer</c> on Grpc.AspNetCore: hands what peers send to the node's
/// <see cref="IPeerMessageHandler"/>. A peer that sends something malformed gets INVALID_ARGUMENT and its stream is
/// closed; nothing a peer sends can take the node down. Register one instance as a singleton and map it with
/// <c>MapGrpcService&lt;PeerService&gt;()</c> on the peer port only.
/// </summary>
/// <remarks>
/// Messages addressed to another node are dropped and logged: a peer with a stale address book must not make this
/// node act on someone else's behalf.
/// </remarks>
/// <param name="authenticatedPeer">
/// The node id the calling peer proved (mutual TLS), or null when the connection proves none. When set and it names a
/// node, every message on the call must come from that node, so one member's certificate cannot speak for another.
/// </param>
public sealed class PeerService(ulong localNodeId, IPeerMessageHandler handler, ILogger logger, Func<ServerCallContext, ulong?>? authenticatedPeer = null)
    : Wire.RaftPeer.RaftPeerBase
{
    public const string ServiceName = "raftkv.peer.v1.RaftPeer";

    private readonly IPeerMessageHandler _handler = handler ?? throw new ArgumentNullException(nameof(handler));
    private readonly ILogger _logger = logger ?? throw new ArgumentNullException(nameof(logger));

    public ulong LocalNodeId { get; } = localNodeId;

    public override async Task<Empty> Send(IAsyncStreamReader<Wire.MessageBatch> requestStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(context);
        ulong? sender = authenticatedPeer?.Invoke(context);
        var decoded = new List<Message>();
        while (await MoveNextAsync(requestStream, context).ConfigureAwait(false))
        {
            // Decode the whole batch before delivering any of it, so a malformed batch is refused as a unit.
            decoded.Clear();
            foreach (Wire.RaftMessage wire in requestStream.Current.Messages)
            {
                decoded.Add(Decode(wire, context));
            }
            foreach (Message message in decoded)
            {
                CheckSender(sender, message, context);
            }
            foreach (Message message in decoded)
            {
                if (message.To != LocalNodeId)
                {
                    MeshLog.MisaddressedMessage(_logger, message, LocalNodeId);
                }
                else if (message.Type == MessageType.InstallSnapshot)
                {
                    MeshLog.InstallSnapshotOnSendStream(_logger, message);
                }
                else
                {
                    _handler.OnMessage(message);
                }
            }
        }
        return new Empty();
    }

    public override async Task InstallSnapshot(
        IAsyncStreamReader<Wire.SnapshotChunk> requestStream, IServerStreamWriter<Wire.ChunkReceipt> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        while (await MoveNextAsync(requestStream, context).ConfigureAwait(false))
        {
            Message installSnapshot;
            SnapshotChunk chunk;
            try
            {
                (installSnapshot, chunk) = RaftMessageCodec.FromProto(requestStream.Current);
            }
            catch (InvalidDataException exception)
            {
                throw Malformed(context, exception.Message, exception);
            }
            CheckSender(authenticatedPeer?.Invoke(context), installSnapshot, context);
            if (installSnapshot.To != LocalNodeId)
            {
                MeshLog.MisaddressedMessage(_logger, installSnapshot, LocalNodeId);
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"this node is {LocalNodeId}, not {installSnapshot.To}"));
            }
            ChunkReceipt receipt = await _handler.OnSnapshotChunkAsync(installSnapshot, chunk, context.CancellationToken).ConfigureAwait(false);
            await responseStream.WriteAsync(RaftMessageCodec.ToProto(receipt), context.CancellationToken).ConfigureAwait(false);
        }
    }

    private void CheckSender(ulong? sender, Message message, ServerCallContext context)
    {
        if (sender is { } proven && message.From != proven)
        {
            MeshLog.ImpersonatingPeer(_logger, context.Peer, proven, message.From);
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"this connection is authenticated as node {proven}, not node {message.From}"));
        }
    }

    private Message Decode(Wire.RaftMessage wire, ServerCallContext context)
    {
        try
        {
            return RaftMessageCodec.FromProto(wire);
        }
        catch (InvalidDataException exception)
        {
            throw Malformed(context, exception.Message, exception);
        }
    }

    /// <summary>
    /// The next message of a peer's stream. Grpc.AspNetCore surfaces undecodable protobuf as the parser's exception
    /// (which it would report as UNKNOWN); for a peer stream it is the peer's fault, so it becomes INVALID_ARGUMENT.
    /// </summary>
    private async Task<bool> MoveNextAsync<T>(IAsyncStreamReader<T> requestStream, ServerCallContext context)
    {
        try
        {
            return await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false);
        }
        catch (InvalidProtocolBufferException exception)
        {
            throw Malformed(context, exception.Message, exception);
        }
        catch (Exception exception) when (exception is not RpcException && exception.InnerException is InvalidProtocolBufferException inner)
        {
            throw Malformed(context, inner.Message, exception);
        }
    }

    private RpcException Malformed(ServerCallContext context, string reason, Exception exception)
    {
        MeshLog.MalformedMessage(_logger, context.Peer, reason);
        return new RpcException(new Status(StatusCode.InvalidArgument, reason, exception));
    }
}
