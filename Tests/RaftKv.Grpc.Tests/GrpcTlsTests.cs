using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RaftKv.Grpc.Client;
using RaftKv.Grpc.Tests.Infrastructure;
using RaftKv.Grpc.Tests.Protos;

namespace RaftKv.Grpc.Tests;

/// <summary>gRPC over TLS: Kestrel offers h2 by ALPN and the client negotiates it.</summary>
public sealed class GrpcTlsTests
{
    [Fact]
    public async Task UnaryAndDuplex_OverTlsWithAlpn()
    {
        using X509Certificate2 certificate = CreateSelfSignedCertificate();
        await using GrpcTestServer server = await GrpcTestServer.StartAsync(tlsCertificate: certificate);
        Assert.Equal(Uri.UriSchemeHttps, server.Address.Scheme);

        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // Trust exactly the test certificate, nothing else.
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHashString() == certificate.GetCertHashString(),
            },
        };
        using GrpcChannel channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { HttpHandler = handler });

        EchoReply reply = await channel.UnaryAsync(EchoService.Unary, new EchoRequest { Message = "secure" });
        Assert.Equal("secure", reply.Message);

        using DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(EchoService.Duplex);
        await call.RequestStream.WriteAsync(new EchoRequest { Message = "tls-duplex" });
        await call.RequestStream.CompleteAsync();
        var replies = new List<string>();
        await foreach (EchoReply item in call.ReadAllAsync())
        {
            replies.Add(item.Message);
        }

        Assert.Equal(["tls-duplex"], replies);
    }

    private static X509Certificate2 CreateSelfSignedCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2 ephemeral = request.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
    }
}
