using System.Net;
using Microsoft.AspNetCore.Http;

namespace RaftKv.Grpc.Server;

/// <summary>What a handler knows about the call it is serving.</summary>
public sealed class ServerCallContext
{
    internal ServerCallContext(HttpContext httpContext, string method, DateTimeOffset? deadline, CancellationToken cancellationToken)
    {
        HttpContext = httpContext;
        Method = method;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>The full method path, "/package.Service/Method".</summary>
    public string Method { get; }

    /// <summary>The absolute deadline derived from the client's <c>grpc-timeout</c>, if it sent one.</summary>
    public DateTimeOffset? Deadline { get; }

    /// <summary>
    /// Cancelled when the client cancels or disconnects (the HTTP/2 stream is reset) or when
    /// the deadline passes. Handlers pass it to every async call they make.
    /// </summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The request headers (gRPC metadata), including reserved ones such as <c>grpc-timeout</c>.</summary>
    public IHeaderDictionary RequestHeaders => HttpContext.Request.Headers;

    /// <summary>The remote address in gRPC's peer format, e.g. "ipv4:127.0.0.1:51234".</summary>
    public string Peer => FormatPeer(HttpContext.Connection.RemoteIpAddress, HttpContext.Connection.RemotePort);

    /// <summary>The underlying HTTP exchange, for what this type does not surface.</summary>
    public HttpContext HttpContext { get; }

    private static string FormatPeer(IPAddress? address, int port) => address switch
    {
        null => "unknown",
        { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } => $"ipv6:[{address}]:{port}",
        _ => $"ipv4:{address}:{port}",
    };
}
