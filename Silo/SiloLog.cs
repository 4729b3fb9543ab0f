using Microsoft.Extensions.Logging;

namespace RaftKv.Silo;

internal static partial class SiloLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message = "node {NodeId} stops after a fatal error")]
    public static partial void Fatal(ILogger logger, ulong nodeId, Exception error);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "node {NodeId} serving: clients at {ClientAddress}, peers at {PeerAddress}, data in {DataDirectory}")]
    public static partial void Serving(ILogger logger, ulong nodeId, string clientAddress, string peerAddress, string dataDirectory);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "node {NodeId} silo started: Orleans is active and every endpoint is serving")]
    public static partial void Started(ILogger logger, ulong nodeId);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "node {NodeId} was asked to stop while starting; stopped")]
    public static partial void StoppedWhileStarting(ILogger logger, ulong nodeId);

    [LoggerMessage(EventId = 5, Level = LogLevel.Critical, Message = "node {NodeId} failed to start or stopped with an error")]
    public static partial void FailedToStart(ILogger logger, ulong nodeId, Exception error);
}
