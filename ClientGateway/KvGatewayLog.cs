using Microsoft.Extensions.Logging;

namespace RaftKv.ClientGateway;

internal static partial class KvGatewayLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Forwarding {Method} to leader {LeaderId} at {Address}.")]
    public static partial void Forwarding(ILogger logger, string method, ulong leaderId, string address);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "{Method} rejected before proposal: {Reason}")]
    public static partial void Rejected(ILogger logger, string method, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "{Method} unavailable: {Reason}")]
    public static partial void Unavailable(ILogger logger, string method, string reason);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "The state machine returned an undecodable reply to {Method}.")]
    public static partial void UndecodableReply(ILogger logger, string method);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Debug, Message = "{Method} cancelled by the client.")]
    public static partial void Cancelled(ILogger logger, string method);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Streamed a snapshot backup at index {Index} (term {Term}): {TotalBytes} bytes.")]
    public static partial void SnapshotSaved(ILogger logger, ulong index, ulong term, ulong totalBytes);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Error, Message = "A snapshot backup could not be produced.")]
    public static partial void SnapshotFailed(ILogger logger, Exception error);
}
