using System.Net;
using System.Net.Http;

namespace RaftKv.Grpc;

/// <summary>
/// How transport-level outcomes become gRPC statuses on the client, following
/// grpc/doc/http-grpc-status-mapping.md and the RST_STREAM table of PROTOCOL-HTTP2.md.
/// </summary>
public static class GrpcStatusMapping
{
    /// <summary>Maps a non-200 HTTP response status that carried no grpc-status.</summary>
    public static StatusCode FromHttpStatus(HttpStatusCode httpStatus) => httpStatus switch
    {
        HttpStatusCode.BadRequest => StatusCode.Internal,
        HttpStatusCode.Unauthorized => StatusCode.Unauthenticated,
        HttpStatusCode.Forbidden => StatusCode.PermissionDenied,
        HttpStatusCode.NotFound => StatusCode.Unimplemented,
        HttpStatusCode.TooManyRequests => StatusCode.Unavailable,
        HttpStatusCode.BadGateway => StatusCode.Unavailable,
        HttpStatusCode.ServiceUnavailable => StatusCode.Unavailable,
        HttpStatusCode.GatewayTimeout => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    /// <summary>Maps an HTTP/2 RST_STREAM / GOAWAY error code to a gRPC status.</summary>
    public static StatusCode FromHttp2ErrorCode(long errorCode) => errorCode switch
    {
        0x7 => StatusCode.Unavailable, // REFUSED_STREAM: the server did not process the call; safe to retry.
        0x8 => StatusCode.Cancelled, // CANCEL
        0xB => StatusCode.ResourceExhausted, // ENHANCE_YOUR_CALM
        0xC => StatusCode.PermissionDenied, // INADEQUATE_SECURITY
        _ => StatusCode.Internal,
    };

    /// <summary>
    /// Maps an exception thrown by the HTTP stack while a call was running. Connection
    /// failures (refused, reset, name resolution) are UNAVAILABLE so callers can retry them.
    /// </summary>
    public static RpcException FromTransportException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is RpcException rpc)
            {
                return rpc;
            }

            if (current is HttpProtocolException protocol)
            {
                return new RpcException(FromHttp2ErrorCode(protocol.ErrorCode), $"HTTP/2 error: {protocol.Message}", exception);
            }
        }

        return exception switch
        {
            HttpRequestException or IOException => new RpcException(StatusCode.Unavailable, $"Error connecting to or talking with the server: {exception.Message}", exception),
            _ => new RpcException(StatusCode.Internal, $"Unexpected transport failure: {exception.Message}", exception),
        };
    }
}
