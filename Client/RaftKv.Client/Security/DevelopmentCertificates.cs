using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace RaftKv.Client.Security;

/// <summary>
/// A development certificate authority and the certificates a RaftKv cluster needs (ECDSA P-256, made with
/// <see cref="CertificateRequest"/>): <c>raftkv certs create</c>, <c>local-cluster --tls</c> and the tests use it.
/// For production, issue the same shapes from your own CA (see docs/security.md).
/// </summary>
public static class DevelopmentCertificates
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    /// <summary>The files <see cref="CreateDirectory"/> writes: the CA, and per node or client a certificate and its key.</summary>
    public static string CaFile(string directory) => Path.Combine(directory, "ca.pem");

    public static string CaKeyFile(string directory) => Path.Combine(directory, "ca-key.pem");

    public static string NodeCertificateFile(string directory, ulong nodeId) => Path.Combine(directory, $"node{nodeId}.pem");

    public static string NodeKeyFile(string directory, ulong nodeId) => Path.Combine(directory, $"node{nodeId}-key.pem");

    public static string ClientCertificateFile(string directory, string name) => Path.Combine(directory, $"client-{name}.pem");

    public static string ClientKeyFile(string directory, string name) => Path.Combine(directory, $"client-{name}-key.pem");

    /// <summary>A self-signed CA certificate (with its private key) valid for <paramref name="validFor"/>.</summary>
    public static X509Certificate2 CreateAuthority(string name, TimeSpan validFor)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.Add(validFor));
    }

    /// <summary>
    /// A node certificate: raftkv://node/<paramref name="nodeId"/> plus <paramref name="hosts"/> (DNS names or IP
    /// addresses) as subject alternative names, usable as a TLS server and as a TLS client (the mesh is mutual TLS).
    /// </summary>
    public static X509Certificate2 IssueNode(X509Certificate2 authority, ulong nodeId, IEnumerable<string> hosts, TimeSpan validFor) =>
        Issue(authority, $"CN=raftkv-node-{nodeId.ToString(CultureInfo.InvariantCulture)}", RaftKvCertificates.NodeUri(nodeId), hosts, server: true, validFor);

    /// <summary>A client certificate naming raftkv://client/<paramref name="name"/>, usable only as a TLS client.</summary>
    public static X509Certificate2 IssueClient(X509Certificate2 authority, string name, TimeSpan validFor) =>
        Issue(authority, $"CN=raftkv-client-{name}", RaftKvCertificates.ClientUri(name), [], server: false, validFor);

    /// <summary>Writes a certificate (PEM) and its private key (PKCS#8 PEM, readable by the owner only where the OS allows).</summary>
    public static void WritePem(X509Certificate2 certificate, string certificateFile, string? keyFile)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        if (keyFile is null) return;
        using ECDsa key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no ECDSA private key");
        // Create the file owner-only before the key is written into it.
        using (File.Create(keyFile))
        {
        }
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// Creates a CA and certificates for nodes 1..<paramref name="nodes"/> and for each of <paramref name="clients"/>
    /// in <paramref name="directory"/> (created if missing; existing files are refused rather than overwritten).
    /// Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> CreateDirectory(string directory, int nodes, IReadOnlyList<string> hosts, IReadOnlyList<string> clients, TimeSpan validFor)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(clients);
        if (nodes < 1) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "at least one node");
        foreach (string client in clients)
        {
            if (client.Length == 0 || !client.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                throw new ArgumentException($"client name '{client}' must be letters, digits, '-', '_' or '.'", nameof(clients));
        }
        Directory.CreateDirectory(directory);
        var files = new List<(X509Certificate2 Certificate, string CertificateFile, string KeyFile)>();
        X509Certificate2 authority = CreateAuthority("RaftKv development CA", validFor);
        files.Add((authority, CaFile(directory), CaKeyFile(directory)));
        for (ulong id = 1; id <= (ulong)nodes; id++)
        {
            files.Add((IssueNode(authority, id, hosts, validFor), NodeCertificateFile(directory, id), NodeKeyFile(directory, id)));
        }
        foreach (string client in clients)
        {
            files.Add((IssueClient(authority, client, validFor), ClientCertificateFile(directory, client), ClientKeyFile(directory, client)));
        }
        string[] existing = [.. files.SelectMany(f => new[] { f.CertificateFile, f.KeyFile }).Where(File.Exists)];
        if (existing.Length > 0)
        {
            foreach (var file in files) file.Certificate.Dispose();
            throw new IOException($"refusing to overwrite existing files: {string.Join(", ", existing)}");
        }
        var written = new List<string>();
        foreach (var (certificate, certificateFile, keyFile) in files)
        {
            WritePem(certificate, certificateFile, keyFile);
            written.Add(certificateFile);
            written.Add(keyFile);
            certificate.Dispose();
        }
        return written;
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string subject, string uri, IEnumerable<string> hosts, bool server, TimeSpan validFor)
    {
        ArgumentNullException.ThrowIfNull(authority);
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        var usages = new OidCollection { ClientAuthentication };
        if (server) usages.Add(ServerAuthentication);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(usages, false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(uri));
        foreach (string host in hosts)
        {
            if (IPAddress.TryParse(host, out IPAddress? address)) names.AddIpAddress(address);
            else names.AddDnsName(host);
        }
        request.CertificateExtensions.Add(names.Build());
        DateTimeOffset now = DateTimeOffset.UtcNow;
        DateTimeOffset notAfter = now.Add(validFor) < authority.NotAfter ? now.Add(validFor) : authority.NotAfter;
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using X509Certificate2 issued = request.Create(authority, now.AddMinutes(-5), notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }
}
