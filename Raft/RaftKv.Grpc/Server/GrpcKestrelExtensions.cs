using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace RaftKv.Grpc.Server;

/// <summary>Kestrel endpoint settings that stock gRPC clients can connect to.</summary>
public static class GrpcKestrelExtensions
{
    /// <summary>
    /// HTTP/2 over cleartext with prior knowledge (h2c): the client opens with the HTTP/2
    /// preface, no upgrade. This is what gRPC clients do for "http://" addresses.
    /// </summary>
    public static ListenOptions UseGrpcCleartext(this ListenOptions listenOptions)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        listenOptions.Protocols = HttpProtocols.Http2;
        return listenOptions;
    }

    /// <summary>
    /// TLS with ALPN offering h2 (and http/1.1 for health checks and browsers); gRPC clients
    /// negotiate h2.
    /// </summary>
    public static ListenOptions UseGrpcTls(this ListenOptions listenOptions, X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        ArgumentNullException.ThrowIfNull(certificate);
        listenOptions.Protocols = HttpProtocols.Http1AndHttp2;
        listenOptions.UseHttps(certificate);
        return listenOptions;
    }
}
