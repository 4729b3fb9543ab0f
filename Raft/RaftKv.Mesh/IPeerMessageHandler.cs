using RaftKv.Raft;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Mesh;

/// <summary>
/// The silo's side of the peer mesh. The mesh calls these from its own threads; implementations hand the work to
/// the node's driver loop, which alone touches the Raft core and storage.
/// </summary>
public interface IPeerMessageHandler
{
    /// <summary>A Raft message arrived from a peer. Must not block: enqueue it for the driver loop.</summary>
    void OnMessage(Message message);

    /// <summary>
    /// One chunk of an InstallSnapshot transfer arrived (<paramref name="installSnapshot"/> carries the metadata of the
    /// snapshot being sent). The silo feeds it to its <see cref="SnapshotReceiver"/> on the driver thread. When the
    /// receipt is <see cref="ChunkOutcome.Completed"/>, the silo steps <paramref name="installSnapshot"/> into Raft.
    /// </summary>
    Task<ChunkReceipt> OnSnapshotChunkAsync(Message installSnapshot, SnapshotChunk chunk, CancellationToken cancellationToken);

    /// <summary>
    /// Opens the latest local snapshot for sending (on the driver thread, so it cannot race a compaction). The mesh
    /// disposes the chunker when the transfer ends.
    /// </summary>
    Task<SnapshotChunker?> OpenLatestSnapshotAsync(CancellationToken cancellationToken);

    /// <summary>A snapshot transfer to <paramref name="peer"/> failed for good; Raft should probe again later.</summary>
    void OnSnapshotFailed(ulong peer);
}
