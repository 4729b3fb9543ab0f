using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using Grpc.Core;
using RaftKv.Client.Protos;
using RaftKv.Node;
using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.Snapshots;

namespace RaftKv.ClientGateway;

public sealed partial class KvGatewayService
{
    /// <summary>Largest data chunk per streamed message, well under gRPC's 4 MiB default message limit.</summary>
    private const int SnapshotChunkBytes = 64 * 1024;

    /// <summary>
    /// A consistent backup: on the leader only, confirm leadership with ReadIndex (so the image holds every write
    /// acknowledged before this call), capture the applied state, and stream it in the snapshot store's file format
    /// straight from the state machine (nothing is staged on disk). The last message carries the length and CRC32C
    /// of every byte sent.
    /// </summary>
    public override async Task SaveSnapshot(SaveSnapshotRequest request, IServerStreamWriter<SaveSnapshotResponse> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        const string method = nameof(SaveSnapshot);
        CancellationToken cancellationToken = context.CancellationToken;
        CapturedSnapshot captured;
        try
        {
            RaftStatus status = _node.Status;
            if (status.Role != RaftRole.Leader) throw NotLeaderRefusal(status.Leader);
            await _node.ReadIndexAsync(cancellationToken).ConfigureAwait(false);
            captured = await _node.CaptureSnapshotAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (UnavailableException unavailable)
        {
            KvGatewayLog.Unavailable(_logger, method, unavailable.Message);
            throw KvGatewayErrors.Failure(StatusCode.Unavailable, $"{unavailable.Message}; retry", mayHaveApplied: false);
        }

        using (captured)
        {
            var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 4 * SnapshotChunkBytes, resumeWriterThreshold: 2 * SnapshotChunkBytes));
            // The image writes record by record on a pool thread (it may read FASTER pages from disk); the pipe bounds
            // how far it runs ahead of the network.
            Task producer = Task.Run(() =>
            {
                try
                {
                    using Stream target = pipe.Writer.AsStream(leaveOpen: true);
                    using var buffered = new BufferedStream(target, SnapshotChunkBytes);
                    var encoder = new SnapshotFileEncoder(buffered, captured.Metadata);
                    captured.Image.WriteTo(encoder);
                    encoder.Finish();
                    buffered.Flush();
                    pipe.Writer.Complete();
                }
                catch (Exception error)
                {
                    pipe.Writer.Complete(error);
                }
            }, CancellationToken.None);
            try
            {
                uint crc = Crc32C.InitialState;
                ulong total = 0;
                while (true)
                {
                    ReadResult result = await pipe.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                    foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                    {
                        for (int offset = 0; offset < segment.Length; offset += SnapshotChunkBytes)
                        {
                            ReadOnlyMemory<byte> chunk = segment.Slice(offset, Math.Min(SnapshotChunkBytes, segment.Length - offset));
                            crc = Crc32C.Append(crc, chunk.Span);
                            total += (ulong)chunk.Length;
                            await responseStream.WriteAsync(new SaveSnapshotResponse { Data = ByteString.CopyFrom(chunk.Span) }, cancellationToken)
                                .ConfigureAwait(false);
                        }
                    }
                    pipe.Reader.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
                await responseStream.WriteAsync(new SaveSnapshotResponse
                {
                    Done = true,
                    TotalBytes = total,
                    Crc32C = Crc32C.Finish(crc),
                    Index = captured.Metadata.Index,
                    Term = captured.Metadata.Term,
                }, cancellationToken).ConfigureAwait(false);
                KvGatewayLog.SnapshotSaved(_logger, captured.Metadata.Index, captured.Metadata.Term, total);
            }
            catch (Exception error) when (error is not RpcException and not OperationCanceledException)
            {
                KvGatewayLog.SnapshotFailed(_logger, error);
                throw KvGatewayErrors.Failure(StatusCode.Internal, $"the snapshot could not be produced: {error.Message}", mayHaveApplied: false);
            }
            finally
            {
                // A reader that stopped early makes the producer's remaining writes no-ops; the image must not be
                // released while it still runs.
                await pipe.Reader.CompleteAsync().ConfigureAwait(false);
                await producer.ConfigureAwait(false);
            }
        }
    }
}
