using RaftKv.Raft;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Simulation;

public sealed partial class ClusterSimulation
{
    /// <summary>The mesh's limits (see <c>MeshOptions</c>): chunks without progress, and whole-checksum restarts, before a transfer fails.</summary>
    private const int MaxSnapshotChunkRetries = 16;
    private const int MaxSnapshotRestarts = 2;

    /// <summary>One running transfer from a leader to a follower: at most one per pair, as in the mesh.</summary>
    private sealed class SnapshotTransfer(long id, int senderIncarnation, Message message, SnapshotChunker chunker)
    {
        public long Id => id;
        public int SenderIncarnation => senderIncarnation;
        public Message Message => message;
        public SnapshotChunker Chunker => chunker;
        public long Offset { get; set; }
        public int Retries { get; set; }
        public int Restarts { get; set; }
        public int ChunksSent { get; set; }
    }

    private readonly Dictionary<(ulong From, ulong To), SnapshotTransfer> _snapshotTransfers = [];
    private long _nextTransferId = 1;

    /// <summary>Transfers that completed, and chunks lost (each breaks its transfer, which later resumes where the receiver stands).</summary>
    public int SnapshotTransfersCompleted { get; private set; }

    public int SnapshotChunksLost { get; private set; }

    /// <summary>Transfers that started at offset 0 and were told by the receiver to resume further on.</summary>
    public int SnapshotTransfersResumed { get; private set; }

    /// <summary>
    /// The mesh's side of InstallSnapshot over the real <see cref="SnapshotChunker"/> and <see cref="SnapshotReceiver"/>:
    /// the sender streams its latest snapshot one chunk at a time, each from the offset the last receipt asked for;
    /// a lost chunk or receipt breaks the stream, the sender reports the failure to Raft (which probes and sends
    /// InstallSnapshot again), and the next transfer resumes at the receiver's offset.
    /// </summary>
    private void StartSnapshotTransfer(SimulatedNode from, Message message)
    {
        if (_snapshotTransfers.TryGetValue((from.Id, message.To), out SnapshotTransfer? running))
        {
            if (running.SenderIncarnation == from.Incarnation)
            {
                Trace?.Invoke($"{NowMs,6}ms node {from.Id}: snapshot transfer to {message.To} already running ({running.Message.Snapshot}, offset {running.Offset})");
                return; // at most one transfer per peer
            }
            EndSnapshotTransfer(from.Id, message.To, running.Id, failed: false);
        }
        SnapshotStore store = from.Storage.Snapshots!; // read beside the driver, as the mesh's OpenLatestSnapshotAsync would
        if (store.Latest is not { } latest || latest.Index < message.Snapshot!.Index)
        {
            _checker.Violation($"node {from.Id} sends snapshot {message.Snapshot} it does not hold");
            return;
        }
        var chunker = new SnapshotChunker(store, new SnapshotTransferOptions { ChunkSizeBytes = _options.SnapshotChunkBytes });
        // The latest snapshot may be newer than the one Raft named: send what is on disk and say so.
        var transfer = new SnapshotTransfer(_nextTransferId++, from.Incarnation, message with { Snapshot = chunker.Metadata }, chunker);
        _snapshotTransfers[(from.Id, message.To)] = transfer;
        Trace?.Invoke($"{NowMs,6}ms node {from.Id}: snapshot transfer {transfer.Id} of {chunker.Metadata} to {message.To} starts");
        SendChunk(from.Id, transfer);
    }

    private void SendChunk(ulong from, SnapshotTransfer transfer)
    {
        SnapshotChunk chunk = transfer.Chunker.ReadChunk(transfer.Offset);
        ulong to = transfer.Message.To;
        // The stream's deadline: without a receipt for this chunk by then (lost chunk or receipt, crashed or
        // partitioned receiver), the sender gives the transfer up.
        transfer.ChunksSent++;
        Schedule(2 * _options.MaxLatencyMs + 100, new TransferDeadline(from, to, transfer.Id, transfer.ChunksSent));
        if (_random.Chance(_options.DropRate))
        {
            SnapshotChunksLost++;
            return;
        }
        Schedule(_random.Next(_options.MinLatencyMs, _options.MaxLatencyMs + 1), new ChunkArrives(new ChunkArrival(from, to, transfer.Id, transfer.Message, chunk)));
    }

    /// <summary>The receiving mesh hands the chunk to the driver (<see cref="RaftKv.Node.RaftDriver.OnSnapshotChunkAsync"/>), which answers in its next step.</summary>
    private void OnSnapshotChunk(ChunkArrival arrives)
    {
        SimulatedNode target = _nodes[(int)arrives.To - 1];
        if (!target.IsUp || _blockedLinks.Contains((arrives.From, arrives.To)))
        {
            SnapshotChunksLost++;
            return;
        }
        target.PendingChunks.Add((target.Driver!.OnSnapshotChunkAsync(arrives.Message, arrives.Chunk, CancellationToken.None), arrives));
    }

    /// <summary>After a step of the node: receipts of the chunks it took go back to their senders (or are lost).</summary>
    private void CollectChunkReceipts(SimulatedNode node)
    {
        List<(Task<ChunkReceipt> Receipt, ChunkArrival Chunk)> pending = node.PendingChunks;
        for (int i = 0; i < pending.Count; i++)
        {
            (Task<ChunkReceipt> receipt, ChunkArrival arrives) = pending[i];
            if (!receipt.IsCompleted) continue;
            pending.RemoveAt(i--);
            if (!receipt.IsCompletedSuccessfully || _random.Chance(_options.DropRate) || _blockedLinks.Contains((arrives.To, arrives.From)))
            {
                SnapshotChunksLost++;
                continue;
            }
            if (receipt.Result.Outcome == ChunkOutcome.Completed) Trace?.Invoke($"{NowMs,6}ms node {node.Id} received snapshot {arrives.Message.Snapshot}");
            Schedule(ReplyDelay(node) + _random.Next(_options.MinLatencyMs, _options.MaxLatencyMs + 1),
                new ReceiptArrives(arrives.From, arrives.To, arrives.TransferId, receipt.Result));
        }
    }

    /// <summary>The mesh's TransferAsync: continue from the offset the receiver asked for, within the retry limits.</summary>
    private void OnSnapshotReceipt(ReceiptArrives arrives)
    {
        if (!_snapshotTransfers.TryGetValue((arrives.From, arrives.To), out SnapshotTransfer? transfer) || transfer.Id != arrives.TransferId) return;
        if (!_nodes[(int)arrives.From - 1].IsCurrent(transfer.SenderIncarnation))
        {
            EndSnapshotTransfer(arrives.From, arrives.To, transfer.Id, failed: false);
            return;
        }
        ChunkReceipt receipt = arrives.Receipt;
        switch (receipt.Outcome)
        {
            case ChunkOutcome.Completed or ChunkOutcome.Stale:
                SnapshotTransfersCompleted++;
                EndSnapshotTransfer(arrives.From, arrives.To, transfer.Id, failed: false);
                return;
            case ChunkOutcome.SnapshotChecksumMismatch:
                if (++transfer.Restarts > MaxSnapshotRestarts)
                {
                    EndSnapshotTransfer(arrives.From, arrives.To, transfer.Id, failed: true);
                    return;
                }
                transfer.Offset = 0;
                transfer.Retries = 0;
                break;
            default:
                if (receipt.Outcome == ChunkOutcome.OutOfOrder && transfer.Offset == 0 && receipt.NextOffsetBytes > 0) SnapshotTransfersResumed++;
                bool advanced = receipt.Outcome == ChunkOutcome.Accepted && receipt.NextOffsetBytes > transfer.Offset;
                transfer.Retries = advanced ? 0 : transfer.Retries + 1;
                if (receipt.NextOffsetBytes > transfer.Chunker.TotalLengthBytes || transfer.Retries > MaxSnapshotChunkRetries)
                {
                    EndSnapshotTransfer(arrives.From, arrives.To, transfer.Id, failed: true);
                    return;
                }
                transfer.Offset = receipt.NextOffsetBytes;
                break;
        }
        SendChunk(arrives.From, transfer);
    }

    /// <summary>Ends a transfer; a failed one is reported to the sender's Raft (the mesh's OnSnapshotFailed), which probes again.</summary>
    private void EndSnapshotTransfer(ulong from, ulong to, long transferId, bool failed)
    {
        if (!_snapshotTransfers.TryGetValue((from, to), out SnapshotTransfer? transfer) || transfer.Id != transferId) return;
        _snapshotTransfers.Remove((from, to));
        transfer.Chunker.Dispose();
        SimulatedNode sender = _nodes[(int)from - 1];
        if (failed && sender.IsCurrent(transfer.SenderIncarnation))
        {
            Trace?.Invoke($"{NowMs,6}ms node {from}: snapshot transfer to {to} failed at offset {transfer.Offset}");
            sender.Driver!.OnSnapshotFailed(to);
        }
    }

    private sealed record ChunkArrives(ChunkArrival Chunk) : SimEvent;
    private sealed record ReceiptArrives(ulong From, ulong To, long TransferId, ChunkReceipt Receipt) : SimEvent;
    private sealed record TransferDeadline(ulong From, ulong To, long TransferId, int ChunkNumber) : SimEvent;

    private void OnTransferDeadline(TransferDeadline deadline)
    {
        if (_snapshotTransfers.TryGetValue((deadline.From, deadline.To), out SnapshotTransfer? transfer) &&
            transfer.Id == deadline.TransferId && transfer.ChunksSent == deadline.ChunkNumber)
        {
            EndSnapshotTransfer(deadline.From, deadline.To, transfer.Id, failed: true);
        }
    }
}
