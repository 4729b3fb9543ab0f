using Microsoft.Extensions.Logging;
using RaftKv.Raft;

namespace RaftKv.Mesh;

internal static partial class MeshLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Peer {Peer} sent a malformed message; closing its stream: {Reason}")]
    public static partial void MalformedMessage(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Dropped {Message}: this node is {LocalNode}")]
    public static partial void MisaddressedMessage(ILogger logger, Message message, ulong localNode);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Dropped {Message}: InstallSnapshot travels only on the InstallSnapshot stream")]
    public static partial void InstallSnapshotOnSendStream(ILogger logger, Message message);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "Send stream to peer {Peer} failed after {Failures} consecutive failures; {Dropped} messages dropped, retrying in {DelayMs} ms")]
    public static partial void SendStreamFailed(ILogger logger, ulong peer, int failures, int dropped, int delayMs, Exception exception);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Warning, Message = "Cannot reach peer {Peer} at {Address} ({Failures} attempts in a row; last: {Reason}). Messages to it are dropped until it answers. If that node is running, check that this address (its RaftKv:Members entry's PeerAddress) reaches the port it listens on (its RaftKv:PeerListenAddress, or the same address), through any NAT or container port mapping")]
    public static partial void PeerUnreachable(ILogger logger, ulong peer, string address, int failures, string reason);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Information, Message = "Reached peer {Peer} at {Address} again after {Failures} failed attempts")]
    public static partial void PeerReachable(ILogger logger, ulong peer, string address, int failures);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Queue to peer {Peer} is full; dropped the oldest message {Message}")]
    public static partial void QueueOverflow(ILogger logger, ulong peer, Message message);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Warning, Message = "Dropped {Message}: no address for peer {Peer}")]
    public static partial void UnknownPeer(ILogger logger, Message message, ulong peer);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Debug, Message = "A snapshot transfer to peer {Peer} is already running; ignored {Message}")]
    public static partial void SnapshotAlreadyRunning(ILogger logger, ulong peer, Message message);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Information, Message = "Snapshot transfer to peer {Peer} finished ({Outcome}) for {Snapshot}")]
    public static partial void SnapshotSent(ILogger logger, ulong peer, string outcome, SnapshotMetadata snapshot);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Warning, Message = "Snapshot transfer to peer {Peer} failed")]
    public static partial void SnapshotFailed(ILogger logger, ulong peer, Exception exception);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Information, Message = "Peer {Peer} is now reached at {Address}")]
    public static partial void PeerAdded(ILogger logger, ulong peer, string address);

    [LoggerMessage(EventId = 1030, Level = LogLevel.Warning, Message = "Refused a message from peer connection {Peer}: authenticated as node {Authenticated}, the message claims node {Claimed}")]
    public static partial void ImpersonatingPeer(ILogger logger, string peer, ulong authenticated, ulong claimed);
}
