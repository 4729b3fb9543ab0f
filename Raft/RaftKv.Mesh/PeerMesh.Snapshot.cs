using Grpc.Core;
using RaftKv.Raft;
using RaftKv.Storage.Snapshots;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh;

public sealed partial class PeerMesh
{
    /// <summary>Starts a snapshot transfer to <paramref name="peer"/> unless one is already running (at most one per peer).</summary>
    private void MaybeStartSnapshotTransfer(Peer peer, Message installSnapshot)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        if (!peer.TryBeginSnapshot())
        {
            MeshLog.SnapshotAlreadyRunning(_logger, peer.Id, installSnapshot);
            return;
        }
        CancellationToken cancellationToken = _stopping.Token;
        Task transfer = Task.Run(() => RunSnapshotTransferAsync(peer, installSnapshot, cancellationToken), CancellationToken.None);
        // A peer retired in between may release its channel before seeing this: the transfer then fails and is
        // reported, and Raft sends the snapshot again to the peer's new address.
        peer.SnapshotTask = transfer;
        lock (_snapshotTasksLock)
        {
            _snapshotTasks.Add(transfer);
        }
        _ = transfer.ContinueWith(
            task =>
            {
                lock (_snapshotTasksLock)
                {
                    _snapshotTasks.Remove(task);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private async Task RunSnapshotTransferAsync(Peer peer, Message installSnapshot, CancellationToken cancellationToken)
    {
        bool succeeded = false;
        try
        {
            using SnapshotChunker chunker = await _handler.OpenLatestSnapshotAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException("there is no local snapshot to send");
            // The latest snapshot may be newer than the one Raft named when it queued the message: send what is
            // actually on disk and say so in the message (see MessageType.InstallSnapshot).
            Message sent = installSnapshot with { Snapshot = chunker.Metadata };
            ChunkOutcome outcome = await TransferAsync(peer, sent, chunker, cancellationToken).ConfigureAwait(false);
            MeshLog.SnapshotSent(_logger, peer.Id, outcome.ToString(), chunker.Metadata);
            succeeded = true;
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // The mesh is shutting down; nobody is left to probe again.
        }
        catch (Exception exception)
        {
            MeshLog.SnapshotFailed(_logger, peer.Id, exception);
        }
        finally
        {
            peer.EndSnapshot();
        }
        if (!succeeded && !cancellationToken.IsCancellationRequested)
        {
            _handler.OnSnapshotFailed(peer.Id);
        }
    }

    /// <summary>
    /// Streams the chunks, one at a time, each from the offset the previous receipt asked for: a chunk the receiver
    /// refused (bad CRC, out of order) is resent, a whole-snapshot checksum failure restarts from 0. Returns the final
    /// outcome (<see cref="ChunkOutcome.Completed"/> or <see cref="ChunkOutcome.Stale"/>); throws when the transfer
    /// cannot finish, or when a chunk's receipt takes longer than <see cref="MeshOptions.SnapshotChunkReceiptTimeout"/>.
    /// </summary>
    private async Task<ChunkOutcome> TransferAsync(Peer peer, Message installSnapshot, SnapshotChunker chunker, CancellationToken cancellationToken)
    {
        // Re-armed for every chunk: the call ends when one receipt is overdue.
        using var receiptOverdue = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        CancellationToken callToken = receiptOverdue.Token;
        using AsyncDuplexStreamingCall<Wire.SnapshotChunk, Wire.ChunkReceipt> call = peer.Client.InstallSnapshot(cancellationToken: callToken);
        await using IAsyncEnumerator<Wire.ChunkReceipt> receipts = call.ResponseStream.ReadAllAsync(callToken).GetAsyncEnumerator(callToken);
        long offset = 0;
        int retries = 0;
        int restarts = 0;
        while (true)
        {
            SnapshotChunk chunk = chunker.ReadChunk(offset);
            receiptOverdue.CancelAfter(_options.SnapshotChunkReceiptTimeout);
            try
            {
                await call.RequestStream.WriteAsync(RaftMessageCodec.ToProto(installSnapshot, chunk), callToken).ConfigureAwait(false);
                if (!await receipts.MoveNextAsync().ConfigureAwait(false))
                {
                    throw new IOException($"peer {peer.Id} ended the InstallSnapshot stream without a receipt");
                }
            }
            catch (Exception e) when (receiptOverdue.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"peer {peer.Id} did not acknowledge the snapshot chunk at offset {offset} within {_options.SnapshotChunkReceiptTimeout.TotalSeconds:F0} s", e);
            }
            ChunkReceipt receipt = RaftMessageCodec.FromProto(receipts.Current);
            switch (receipt.Outcome)
            {
                case ChunkOutcome.Completed or ChunkOutcome.Stale:
                    await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                    while (await receipts.MoveNextAsync().ConfigureAwait(false))
                    {
                        // The server answers nothing more; drain to observe the final status.
                    }
                    return receipt.Outcome;
                case ChunkOutcome.SnapshotChecksumMismatch:
                    if (++restarts > _options.MaxSnapshotRestarts)
                    {
                        throw new IOException($"peer {peer.Id} rejected the whole snapshot checksum {restarts} times");
                    }
                    offset = 0;
                    retries = 0;
                    break;
                default:
                    if (receipt.NextOffsetBytes > chunker.TotalLengthBytes)
                    {
                        throw new IOException($"peer {peer.Id} asked for offset {receipt.NextOffsetBytes} of a {chunker.TotalLengthBytes}-byte snapshot");
                    }
                    bool advanced = receipt.Outcome == ChunkOutcome.Accepted && receipt.NextOffsetBytes > offset;
                    retries = advanced ? 0 : retries + 1;
                    if (retries > _options.MaxSnapshotChunkRetries)
                    {
                        throw new IOException($"peer {peer.Id} made no progress for {retries} chunks (last {receipt})");
                    }
                    offset = receipt.NextOffsetBytes;
                    break;
            }
        }
    }
}
