using System.Net.Security;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Mesh;

/// <summary>Options of the client side of the peer mesh (<see cref="PeerMesh"/>). Immutable; check with <see cref="Validate"/>.</summary>
public sealed record MeshOptions
{
    /// <summary>
    /// Messages queued per peer while its stream is busy or down. When full, the oldest queued message is dropped:
    /// Raft tolerates loss, and newer messages carry newer state.
    /// </summary>
    public int MaxQueuedMessagesPerPeer { get; init; } = 4096;

    /// <summary>The most messages cut into one <c>MessageBatch</c>.</summary>
    public int MaxBatchMessages { get; init; } = 256;

    /// <summary>
    /// A batch stops growing once its estimated size reaches this (a single larger message still goes alone). Keep it
    /// below the receiver's gRPC message size limit, which is 4 MiB by default.
    /// </summary>
    public int MaxBatchSizeBytes { get; init; } = 1024 * 1024;

    /// <summary>First reconnect delay after a stream failure; doubles per consecutive failure, with jitter.</summary>
    public int ReconnectBackoffMinMs { get; init; } = 20;

    /// <summary>Cap of the reconnect delay.</summary>
    public int ReconnectBackoffMaxMs { get; init; } = 2000;

    /// <summary>Chunk size of outgoing snapshot transfers.</summary>
    public SnapshotTransferOptions SnapshotTransfer { get; init; } = new();

    /// <summary>
    /// Receipts in a row that do not advance the transfer (resend requests) before a snapshot transfer gives up and
    /// calls <see cref="IPeerMessageHandler.OnSnapshotFailed"/>.
    /// </summary>
    public int MaxSnapshotChunkRetries { get; init; } = 16;

    /// <summary>
    /// Longest wait for one chunk's receipt before a snapshot transfer gives up (and Raft sends the snapshot again
    /// later): a receiver that stopped answering without closing the connection would otherwise hold the transfer
    /// until the connection's keep-alive ping fails. Receiving a chunk is a file write (the last one, an fsync and a
    /// rename), so seconds, not minutes.
    /// </summary>
    public TimeSpan SnapshotChunkReceiptTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Whole-snapshot checksum failures (restart from offset 0) before a transfer gives up.</summary>
    public int MaxSnapshotRestarts { get; init; } = 2;

    /// <summary>
    /// Largest gRPC message sent to or accepted from a peer (gRPC's default is 4 MiB). Keep
    /// <see cref="MaxBatchSizeBytes"/> and the snapshot chunk size below the receiving server's limit.
    /// </summary>
    public int MaxMessageSizeBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Idle time on a peer connection with open streams before an HTTP/2 PING checks it is alive.</summary>
    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long to wait for the PING's acknowledgement before the connection is dropped (and the stream reconnects).</summary>
    public TimeSpan KeepAlivePingTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// TLS for the connection to a peer (by node id) whose address is https://: the certificate this node presents
    /// (mutual TLS) and how the peer's certificate is checked. Called once per peer when the mesh starts; the options
    /// may select certificates through callbacks, so a rotated certificate is used from the next connection on.
    /// Null: https:// peers are checked against the system's trust store and no client certificate is sent.
    /// </summary>
    public Func<ulong, SslClientAuthenticationOptions>? PeerTls { get; init; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxQueuedMessagesPerPeer < 1)
        {
            errors.Add($"{nameof(MaxQueuedMessagesPerPeer)} must be at least 1, was {MaxQueuedMessagesPerPeer}.");
        }
        if (MaxBatchMessages < 1)
        {
            errors.Add($"{nameof(MaxBatchMessages)} must be at least 1, was {MaxBatchMessages}.");
        }
        if (MaxBatchSizeBytes < 1)
        {
            errors.Add($"{nameof(MaxBatchSizeBytes)} must be at least 1, was {MaxBatchSizeBytes}.");
        }
        if (ReconnectBackoffMinMs < 1 || ReconnectBackoffMaxMs < ReconnectBackoffMinMs)
        {
            errors.Add($"Need 1 <= {nameof(ReconnectBackoffMinMs)} <= {nameof(ReconnectBackoffMaxMs)}, were {ReconnectBackoffMinMs} and {ReconnectBackoffMaxMs}.");
        }
        if (MaxSnapshotChunkRetries < 0)
        {
            errors.Add($"{nameof(MaxSnapshotChunkRetries)} must not be negative, was {MaxSnapshotChunkRetries}.");
        }
        if (SnapshotChunkReceiptTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{nameof(SnapshotChunkReceiptTimeout)} must be positive, was {SnapshotChunkReceiptTimeout}.");
        }
        if (MaxSnapshotRestarts < 0)
        {
            errors.Add($"{nameof(MaxSnapshotRestarts)} must not be negative, was {MaxSnapshotRestarts}.");
        }
        if (SnapshotTransfer is null)
        {
            errors.Add($"{nameof(SnapshotTransfer)} is required.");
        }
        else
        {
            errors.AddRange(SnapshotTransfer.Validate());
        }
        if (MaxMessageSizeBytes < 1)
        {
            errors.Add($"{nameof(MaxMessageSizeBytes)} must be at least 1, was {MaxMessageSizeBytes}.");
        }
        if (KeepAlivePingDelay <= TimeSpan.Zero && KeepAlivePingDelay != Timeout.InfiniteTimeSpan)
        {
            errors.Add($"{nameof(KeepAlivePingDelay)} must be positive or infinite, was {KeepAlivePingDelay}.");
        }
        if (KeepAlivePingTimeout <= TimeSpan.Zero && KeepAlivePingTimeout != Timeout.InfiniteTimeSpan)
        {
            errors.Add($"{nameof(KeepAlivePingTimeout)} must be positive or infinite, was {KeepAlivePingTimeout}.");
        }
        return errors;
    }
}
