using Microsoft.Extensions.Logging;

namespace RaftKv.Grpc.Server;

internal static partial class GrpcServerLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "gRPC handler for {Method} threw an unhandled exception; the call ends with UNKNOWN.")]
    public static partial void HandlerFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "gRPC call {Method} ended with {StatusCode}: {Detail}")]
    public static partial void CallFailed(ILogger logger, string method, StatusCode statusCode, string detail);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "gRPC call {Method} refused: unsupported content type '{ContentType}'.")]
    public static partial void UnsupportedContentType(ILogger logger, string method, string? contentType);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "gRPC call {Method} is not implemented by this server.")]
    public static partial void Unimplemented(ILogger logger, string method);
}
