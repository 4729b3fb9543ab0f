using Microsoft.Extensions.Logging;

namespace RaftKv.Silo;

internal static partial class SiloLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message = "node {NodeId} stops after a fatal error")]
    public static partial void Fatal(ILogger logger, ulong nodeId, Exception error);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "node {NodeId} serving: clients at {ClientAddress}, peers at {PeerAddress}, data in {DataDirectory}")]
    public static partial void Serving(ILogger logger, ulong nodeId, string clientAddress, string peerAddress, string dataDirectory);
}
