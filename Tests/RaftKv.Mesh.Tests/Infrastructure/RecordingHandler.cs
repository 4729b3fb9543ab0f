using System.Collections.Concurrent;
using RaftKv.Raft;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Mesh.Tests.Infrastructure;

/// <summary>
/// A fake node: records every message it is handed, feeds snapshot chunks to a real <see cref="SnapshotReceiver"/>
/// (when given a store to receive into), and serves its own snapshot store to the sending side.
/// </summary>
public sealed class RecordingHandler : IPeerMessageHandler, IDisposable
{
    private readonly SnapshotStore? _sendFrom;
    private readonly SnapshotTransferOptions _transferOptions;
    private readonly SnapshotReceiver? _receiver;
    private readonly SemaphoreSlim _receiverLock = new(1, 1);
    private readonly ConcurrentQueue<Message> _messages = new();
    private readonly ConcurrentQueue<ChunkReceipt> _receipts = new();
    private readonly ConcurrentQueue<ulong> _snapshotFailures = new();
    private int _corruptOnce;
    private long _stallAt = -1;

    public RecordingHandler(SnapshotStore? sendFrom = null, SnapshotStore? receiveInto = null, SnapshotTransferOptions? transferOptions = null)
    {
        _sendFrom = sendFrom;
        _transferOptions = transferOptions ?? new SnapshotTransferOptions();
        _receiver = receiveInto is null ? null : new SnapshotReceiver(receiveInto);
    }

    public IReadOnlyList<Message> Messages => [.. _messages];

    public IReadOnlyList<ChunkReceipt> Receipts => [.. _receipts];

    public IReadOnlyList<ulong> SnapshotFailures => [.. _snapshotFailures];

    /// <summary>The InstallSnapshot message of the transfer that completed, once one has.</summary>
    public Message? Installed { get; private set; }

    /// <summary>Flips a byte of the chunk at <paramref name="offsetBytes"/> the first time it arrives.</summary>
    public void CorruptChunkOnce(long offsetBytes) => Volatile.Write(ref _corruptOnce, 1 + (int)offsetBytes);

    /// <summary>Never answers the chunk at <paramref name="offsetBytes"/> (until the call is cancelled): a receiver that hangs.</summary>
    public void StallAtChunk(long offsetBytes) => Interlocked.Exchange(ref _stallAt, offsetBytes);

    public void OnMessage(Message message) => _messages.Enqueue(message);

    public async Task<ChunkReceipt> OnSnapshotChunkAsync(Message installSnapshot, SnapshotChunk chunk, CancellationToken cancellationToken)
    {
        if (_receiver is null)
        {
            throw new InvalidOperationException("this handler does not receive snapshots");
        }
        if (chunk.OffsetBytes == Interlocked.Read(ref _stallAt)) await Task.Delay(Timeout.Infinite, cancellationToken);
        int corrupt = Volatile.Read(ref _corruptOnce);
        if (corrupt != 0 && chunk.OffsetBytes == corrupt - 1 && Interlocked.CompareExchange(ref _corruptOnce, 0, corrupt) == corrupt)
        {
            byte[] damaged = chunk.Data.ToArray();
            damaged[damaged.Length / 2] ^= 0xFF;
            chunk = chunk with { Data = damaged };
        }
        await _receiverLock.WaitAsync(cancellationToken);
        try
        {
            ChunkReceipt receipt = _receiver.Accept(chunk);
            _receipts.Enqueue(receipt);
            if (receipt.Outcome == ChunkOutcome.Completed)
            {
                Installed = installSnapshot;
            }
            return receipt;
        }
        finally
        {
            _receiverLock.Release();
        }
    }

    public Task<SnapshotChunker?> OpenLatestSnapshotAsync(CancellationToken cancellationToken) =>
        Task.FromResult(_sendFrom?.Latest is null ? null : new SnapshotChunker(_sendFrom, _transferOptions));

    public void OnSnapshotFailed(ulong peer) => _snapshotFailures.Enqueue(peer);

    public void Dispose()
    {
        _receiver?.Dispose();
        _receiverLock.Dispose();
    }
}
