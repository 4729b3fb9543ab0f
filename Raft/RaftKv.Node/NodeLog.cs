using Microsoft.Extensions.Logging;
using RaftKv.Raft;

namespace RaftKv.Node;

internal static partial class NodeLog
{
    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "node {NodeId} recovered: term {Term}, snapshot at {SnapshotIndex}, log through {LastIndex}, state machine at {AppliedIndex}")]
    public static partial void Recovered(ILogger logger, ulong nodeId, ulong term, ulong snapshotIndex, ulong lastIndex, ulong appliedIndex);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "node {NodeId} is {Role} in term {Term} (leader {Leader})")]
    public static partial void RoleChanged(ILogger logger, ulong nodeId, RaftRole role, ulong term, ulong leader);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Information, Message = "node {NodeId} installed snapshot {Index}@{Term} from the leader")]
    public static partial void SnapshotInstalled(ILogger logger, ulong nodeId, ulong index, ulong term);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Information, Message = "node {NodeId} compacted its log through {Index}; {Segments} WAL segments remain")]
    public static partial void Compacted(ILogger logger, ulong nodeId, ulong index, int segments);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Error, Message = "node {NodeId} failed to compact its FASTER log; the next snapshot tries again")]
    public static partial void StoreLogCompactionFailed(ILogger logger, Exception error, ulong nodeId);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Information, Message = "node {NodeId} compacted its FASTER log from {BeforeMb} MB to {AfterMb} MB in {ElapsedMs} ms {Note}")]
    public static partial void StoreLogCompacted(ILogger logger, ulong nodeId, long beforeMb, long afterMb, long elapsedMs, string note);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Warning, Message = "the monotonic clock went back by {BackMs:F0} ms; the node's timers are moved back with it (a real monotonic clock never does this: is the clock faked?)")]
    public static partial void ClockWentBack(ILogger logger, double backMs);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Warning, Message = "node {NodeId} ({Role}) spent {StepMs} ms in one Raft step: {PersistMs} ms persisting {PersistedEntries} entries, {ApplyMs} ms applying {AppliedEntries}, the rest handling inputs or waiting for CPU. Heartbeats and acknowledgements wait while a step runs (every {HeartbeatMs} ms otherwise), so peers may start an election: is the disk's fsync slow or the machine starved? ({EarlierSlowSteps} more slow steps since the last such warning; the longest {LongestMs} ms)")]
    public static partial void SlowStep(ILogger logger, ulong nodeId, RaftRole role, long stepMs, long persistMs, int persistedEntries, long applyMs, int appliedEntries,
        int heartbeatMs, int earlierSlowSteps, long longestMs);

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "node {NodeId} stopped in {TotalMs} ms: peer mesh {MeshMs} ms, driver loop and FASTER checkpoint {DriverMs} ms, storage {StorageMs} ms")]
    public static partial void Stopped(ILogger logger, ulong nodeId, long totalMs, long meshMs, long driverMs, long storageMs);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "node {NodeId} is stopping and hands leadership to node {Target}")]
    public static partial void HandingOffLeadership(ILogger logger, ulong nodeId, ulong target);
}
