using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using RaftKv.Grpc;
using RaftKv.Grpc.Server;
using RaftKv.Raft;
using RaftKv.Storage.Snapshots;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh;

/// <summary>
/// The server side of <c>raftkv.peer.v1.RaftPeer</c>: hands what peers send to the node's
/// <see cref="IPeerMessageHandler"/>. A peer that sends something malformed gets INVALID_ARGUMENT and its stream is
/// closed; nothing a peer sends can take the node down.
/// </summary>
public static class PeerService
{
    public const string ServiceName = "raftkv.peer.v1.RaftPeer";

    public static readonly GrpcMethod<Wire.MessageBatch, Empty> SendMethod =
        new(MethodType.ClientStreaming, ServiceName, "Send", Wire.MessageBatch.Parser, Empty.Parser);

    public static readonly GrpcMethod<Wire.SnapshotChunk, Wire.ChunkReceipt> InstallSnapshotMethod =
        new(MethodType.DuplexStreaming, ServiceName, "InstallSnapshot", Wire.SnapshotChunk.Parser, Wire.ChunkReceipt.Parser);

    /// <summary>
    /// The service for node <paramref name="localNodeId"/>. Messages addressed to another node are dropped and logged
    /// (a peer with a stale address book must not make this node act on someone else's behalf).
    /// </summary>
    public static GrpcServiceDefinition Definition(ulong localNodeId, IPeerMessageHandler handler, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(logger);
        return new GrpcServiceDefinition()
            .AddClientStreaming(SendMethod, (requests, context) => SendAsync(localNodeId, handler, logger, requests, context))
            .AddDuplexStreaming(InstallSnapshotMethod, (requests, responses, context) => InstallSnapshotAsync(localNodeId, handler, logger, requests, responses, context));
    }

    private static async Task<Empty> SendAsync(
        ulong localNodeId, IPeerMessageHandler handler, ILogger logger, IAsyncEnumerable<Wire.MessageBatch> requests, ServerCallContext context)
    {
        var decoded = new List<Message>();
        await foreach (Wire.MessageBatch batch in WithInvalidArgument(requests, logger, context).ConfigureAwait(false))
        {
            // Decode the whole batch before delivering any of it, so a malformed batch is refused as a unit.
            decoded.Clear();
            foreach (Wire.RaftMessage wire in batch.Messages)
            {
                decoded.Add(Decode(wire, logger, context));
            }
            foreach (Message message in decoded)
            {
                if (message.To != localNodeId)
                {
                    MeshLog.MisaddressedMessage(logger, message, localNodeId);
                }
                else if (message.Type == MessageType.InstallSnapshot)
                {
                    MeshLog.InstallSnapshotOnSendStream(logger, message);
                }
                else
                {
                    handler.OnMessage(message);
                }
            }
        }
        return new Empty();
    }

    private static async Task InstallSnapshotAsync(
        ulong localNodeId,
        IPeerMessageHandler handler,
        ILogger logger,
        IAsyncEnumerable<Wire.SnapshotChunk> requests,
        IGrpcStreamWriter<Wire.ChunkReceipt> responses,
        ServerCallContext context)
    {
        await foreach (Wire.SnapshotChunk wire in WithInvalidArgument(requests, logger, context).ConfigureAwait(false))
        {
            Message installSnapshot;
            SnapshotChunk chunk;
            try
            {
                (installSnapshot, chunk) = RaftMessageCodec.FromProto(wire);
            }
            catch (InvalidDataException exception)
            {
                throw Malformed(logger, context, exception.Message, exception);
            }
            if (installSnapshot.To != localNodeId)
            {
                MeshLog.MisaddressedMessage(logger, installSnapshot, localNodeId);
                throw new RpcException(StatusCode.InvalidArgument, $"this node is {localNodeId}, not {installSnapshot.To}");
            }
            ChunkReceipt receipt = await handler.OnSnapshotChunkAsync(installSnapshot, chunk, context.CancellationToken).ConfigureAwait(false);
            await responses.WriteAsync(RaftMessageCodec.ToProto(receipt), context.CancellationToken).ConfigureAwait(false);
        }
    }

    private static Message Decode(Wire.RaftMessage wire, ILogger logger, ServerCallContext context)
    {
        try
        {
            return RaftMessageCodec.FromProto(wire);
        }
        catch (InvalidDataException exception)
        {
            throw Malformed(logger, context, exception.Message, exception);
        }
    }

    /// <summary>
    /// The framing layer reports undecodable protobuf as INTERNAL; for a peer stream it is the peer's fault, so it
    /// becomes INVALID_ARGUMENT.
    /// </summary>
    private static async IAsyncEnumerable<T> WithInvalidArgument<T>(IAsyncEnumerable<T> source, ILogger logger, ServerCallContext context)
    {
        await using IAsyncEnumerator<T> enumerator = source.GetAsyncEnumerator(context.CancellationToken);
        while (true)
        {
            try
            {
                if (!await enumerator.MoveNextAsync().ConfigureAwait(false))
                {
                    yield break;
                }
            }
            catch (RpcException exception) when (exception.InnerException is InvalidProtocolBufferException)
            {
                throw Malformed(logger, context, exception.Detail, exception);
            }
            yield return enumerator.Current;
        }
    }

    private static RpcException Malformed(ILogger logger, ServerCallContext context, string reason, Exception exception)
    {
        MeshLog.MalformedMessage(logger, context.Peer, reason);
        return new RpcException(StatusCode.InvalidArgument, reason, exception);
    }
}
