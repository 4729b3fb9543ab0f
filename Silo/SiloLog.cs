using Microsoft.Extensions.Logging;
using RaftKv.Raft;

namespace RaftKv.Silo;

internal static partial class SiloLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "node {NodeId} recovered: term {Term}, snapshot at {SnapshotIndex}, log through {LastIndex}, state machine at {AppliedIndex}")]
    public static partial void Recovered(ILogger logger, ulong nodeId, ulong term, ulong snapshotIndex, ulong lastIndex, ulong appliedIndex);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "node {NodeId} is {Role} in term {Term} (leader {Leader})")]
    public static partial void RoleChanged(ILogger logger, ulong nodeId, RaftRole role, ulong term, ulong leader);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "node {NodeId} installed snapshot {Index}@{Term} from the leader")]
    public static partial void SnapshotInstalled(ILogger logger, ulong nodeId, ulong index, ulong term);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "node {NodeId} compacted its log through {Index}; {Segments} WAL segments remain")]
    public static partial void Compacted(ILogger logger, ulong nodeId, ulong index, int segments);

    [LoggerMessage(EventId = 5, Level = LogLevel.Critical, Message = "node {NodeId} stops after a fatal error")]
    public static partial void Fatal(ILogger logger, ulong nodeId, Exception error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "node {NodeId} serving: clients at {ClientAddress}, peers at {PeerAddress}, data in {DataDirectory}")]
    public static partial void Serving(ILogger logger, ulong nodeId, string clientAddress, string peerAddress, string dataDirectory);
}
