using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace RaftKv.Client.Security;

/// <summary>
/// How RaftKv reads, checks and names certificates. One cluster CA signs every node's certificate; a node certificate
/// names its node by a subject alternative name URI <c>raftkv://node/&lt;id&gt;</c> (see docs/security.md), besides the
/// DNS names and IP addresses its ports are reached by. Client certificates carry <c>raftkv://client/&lt;name&gt;</c>.
/// </summary>
public static class RaftKvCertificates
{
    /// <summary>The URI a node certificate carries as a subject alternative name, e.g. raftkv://node/1.</summary>
    public const string NodeUriPrefix = "raftkv://node/";

    /// <summary>The URI a client certificate carries as a subject alternative name, e.g. raftkv://client/admin.</summary>
    public const string ClientUriPrefix = "raftkv://client/";

    private const string SubjectAlternativeNameOid = "2.5.29.17";
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    public static string NodeUri(ulong nodeId) => NodeUriPrefix + nodeId.ToString(CultureInfo.InvariantCulture);

    public static string ClientUri(string name) => ClientUriPrefix + name;

    /// <summary>
    /// A certificate and its private key from PEM files (the key may be in the certificate file; then pass it twice).
    /// The result is re-imported as PKCS#12 so that SslStream can use the key on every platform.
    /// </summary>
    /// <exception cref="InvalidDataException">A file is missing or holds no usable certificate or key; the message names it.</exception>
    public static X509Certificate2 LoadCertificate(string certificateFile, string keyFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificateFile);
        ArgumentException.ThrowIfNullOrEmpty(keyFile);
        try
        {
            using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidDataException($"cannot load the certificate '{certificateFile}' with key '{keyFile}': {e.Message}", e);
        }
    }

    /// <summary>Every certificate in a PEM file (a CA bundle).</summary>
    /// <exception cref="InvalidDataException">The file is missing or holds no certificate.</exception>
    public static X509Certificate2Collection LoadAuthorities(string caFile)
    {
        ArgumentException.ThrowIfNullOrEmpty(caFile);
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"cannot load the CA file '{caFile}': {e.Message}", e);
        }
        if (authorities.Count == 0) throw new InvalidDataException($"the CA file '{caFile}' holds no PEM certificate.");
        return authorities;
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> chains to one of <paramref name="authorities"/> (and only to them: the
    /// system's trust store is not consulted) and is within its validity period. Revocation is not checked.
    /// </summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection authorities, out string error)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(authorities);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (chain.Build(certificate))
        {
            error = "";
            return true;
        }
        error = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        if (error.Length == 0) error = "the certificate does not chain to the cluster CA";
        return false;
    }

    /// <summary>The node ids that <paramref name="certificate"/> names (raftkv://node/&lt;id&gt; URIs).</summary>
    public static IReadOnlyList<ulong> NodeIds(X509Certificate2 certificate)
    {
        var ids = new List<ulong>();
        foreach (string uri in SubjectAlternativeUris(certificate))
        {
            if (uri.StartsWith(NodeUriPrefix, StringComparison.Ordinal)
                && ulong.TryParse(uri.AsSpan(NodeUriPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out ulong id) && id != 0)
            {
                ids.Add(id);
            }
        }
        return ids;
    }

    /// <summary>The URIs among the certificate's subject alternative names.</summary>
    public static IReadOnlyList<string> SubjectAlternativeUris(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var uris = new List<string>();
        foreach (X509Extension extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SubjectAlternativeNameOid) continue;
            try
            {
                var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
                AsnReader names = reader.ReadSequence();
                while (names.HasData)
                {
                    if (names.PeekTag() == UriTag) uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                    else names.ReadEncodedValue();
                }
            }
            catch (AsnContentException)
            {
                // A malformed extension names nothing.
            }
        }
        return uris;
    }
}
