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
}
