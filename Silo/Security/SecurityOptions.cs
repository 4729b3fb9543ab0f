using RaftKv.Node;

namespace RaftKv.Silo.Security;

/// <summary>
/// TLS and authentication of a silo, bound from "RaftKv:Security". Everything is off unless
/// <see cref="CertificateFile"/> is set: then the peer and client ports speak TLS with the node's certificate, the
/// peer mesh is mutual TLS against the cluster CA (a peer must present a CA-signed certificate naming a configured
/// member), and Orleans' silo and gateway connections use TLS with the same certificates. See docs/security.md.
/// </summary>
public sealed record SecurityOptions
{
    public const string SectionName = "RaftKv:Security";

    /// <summary>The node's certificate (PEM). It must name the node as raftkv://node/&lt;id&gt; and its hosts.</summary>
    public string CertificateFile { get; init; } = "";

    /// <summary>The certificate's private key (PEM, PKCS#8 or the key type's own format).</summary>
    public string KeyFile { get; init; } = "";

    /// <summary>The cluster CA (PEM, one or more certificates): what every peer, and every client certificate, must chain to.</summary>
    public string CaFile { get; init; } = "";

    /// <summary>How often the certificate, key, CA and token files are checked for changes (reloaded without a restart).</summary>
    public int ReloadIntervalMs { get; init; } = 2_000;

    /// <summary>Refuse clients that do not present a CA-signed certificate at the TLS handshake (client port).</summary>
    public bool RequireClientCertificate { get; init; }

    /// <summary>Bearer tokens a client may present ("authorization: Bearer &lt;token&gt;") instead of a client certificate.</summary>
    public List<string> ClientTokens { get; init; } = [];

    /// <summary>A file of bearer tokens, one per line ('#' starts a comment); reloaded on change like the certificates.</summary>
    public string ClientTokensFile { get; init; } = "";

    /// <summary>Orleans' silo-to-silo and gateway connections use TLS too (with mutual authentication against the CA).</summary>
    public bool OrleansTls { get; init; } = true;

    /// <summary>Whether TLS is configured at all.</summary>
    public bool TlsEnabled => CertificateFile.Length > 0 || KeyFile.Length > 0 || CaFile.Length > 0;

    /// <summary>Whether every client request must be authenticated (certificate or token) before it is handled.</summary>
    public bool ClientAuthenticationRequired => RequireClientCertificate || ClientTokens.Count > 0 || ClientTokensFile.Length > 0;

    public IReadOnlyList<string> Validate(NodeOptions node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var errors = new List<string>();
        if (TlsEnabled)
        {
            if (CertificateFile.Length == 0 || KeyFile.Length == 0 || CaFile.Length == 0)
                errors.Add($"{SectionName}: CertificateFile, KeyFile and CaFile must be set together (TLS needs all three).");
            foreach ((string setting, string file) in new[] { ("CertificateFile", CertificateFile), ("KeyFile", KeyFile), ("CaFile", CaFile) })
            {
                if (file.Length > 0 && !File.Exists(file)) errors.Add($"{SectionName}:{setting}: file '{file}' does not exist.");
            }
        }
        if (ClientTokensFile.Length > 0 && !File.Exists(ClientTokensFile))
            errors.Add($"{SectionName}:ClientTokensFile: file '{ClientTokensFile}' does not exist.");
        if (ClientAuthenticationRequired && !TlsEnabled)
            errors.Add($"{SectionName}: client authentication (ClientTokens, ClientTokensFile, RequireClientCertificate) needs TLS (CertificateFile, KeyFile, CaFile): a token sent in cleartext can be read by anyone on the path.");
        foreach (string token in ClientTokens)
        {
            if (token.Length == 0 || token.Any(char.IsWhiteSpace)) errors.Add($"{SectionName}:ClientTokens: a token must be non-empty and contain no whitespace.");
        }
        if (ReloadIntervalMs < 100) errors.Add($"{SectionName}:ReloadIntervalMs must be at least 100, was {ReloadIntervalMs}.");
        string scheme = TlsEnabled ? "https" : "http";
        foreach (NodeMember member in node.Members)
        {
            foreach ((string setting, string address) in new[] { ("PeerAddress", member.PeerAddress), ("ClientAddress", member.ClientAddress) })
            {
                if (Uri.TryCreate(address, UriKind.Absolute, out Uri? uri) && uri.Scheme != scheme)
                {
                    errors.Add(TlsEnabled
                        ? $"member {member.Id}: {setting} '{address}' must be https:// when {SectionName}:CertificateFile is set."
                        : $"member {member.Id}: {setting} '{address}' is https:// but TLS is not configured ({SectionName}:CertificateFile, KeyFile, CaFile).");
                }
            }
        }
        return errors;
    }
}

/// <summary>
/// Resource limits of a silo's ports, bound from "RaftKv:Limits". Each, when exceeded, gives the caller a clear error
/// (see docs/security.md) and leaves the node serving.
/// </summary>
public sealed record LimitsOptions
{
    public const string SectionName = "RaftKv:Limits";

    /// <summary>Largest request message the client port accepts (RESOURCE_EXHAUSTED beyond it).</summary>
    public int ClientMaxReceiveMessageBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// Largest message the peer port accepts (RESOURCE_EXHAUSTED beyond it). The mesh sends batches of up to 1 MiB and
    /// snapshot chunks of 1 MiB, so this must leave room for them.
    /// </summary>
    public int PeerMaxReceiveMessageBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>
    /// HTTP/2 streams one connection may have open at once (advertised in SETTINGS_MAX_CONCURRENT_STREAMS; a client
    /// that opens more has the extra streams refused with REFUSED_STREAM). Kestrel applies it to every port of the silo.
    /// 100, Kestrel's default: Kestrel keeps at most 100 finished streams per connection for reuse, so a client with
    /// 256 calls in flight on one connection made it allocate a stream (with its headers, pipes and context) for most
    /// requests; at 100 the .NET client opens a second and third connection instead (the cluster benchmark: ~5 % more
    /// writes per second, a third fewer collections on the leader).
    /// </summary>
    public int MaxConcurrentStreamsPerConnection { get; init; } = 100;

    /// <summary>
    /// The longest deadline a client call may ask for, in ms; a call asking for more is refused with INVALID_ARGUMENT
    /// naming this setting, and a call with no deadline gets this one. 0: no limit.
    /// </summary>
    public int MaxRequestDeadlineMs { get; init; }

    /// <summary>Largest Orleans message body on the silo and gateway ports (Orleans closes the connection beyond it). 0: Orleans' default (100 MB).</summary>
    public int OrleansMaxMessageBodyBytes { get; init; }

    /// <summary>The smallest peer message limit that lets the mesh's 1 MiB batches and snapshot chunks through, with framing to spare.</summary>
    public const int MinPeerMaxReceiveMessageBytes = 2 * 1024 * 1024;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (ClientMaxReceiveMessageBytes < 64 * 1024)
            errors.Add($"{SectionName}:ClientMaxReceiveMessageBytes must be at least 65536, was {ClientMaxReceiveMessageBytes}.");
        if (PeerMaxReceiveMessageBytes < MinPeerMaxReceiveMessageBytes)
            errors.Add($"{SectionName}:PeerMaxReceiveMessageBytes must be at least {MinPeerMaxReceiveMessageBytes} (the mesh's batches and snapshot chunks are up to 1 MiB), was {PeerMaxReceiveMessageBytes}.");
        if (MaxConcurrentStreamsPerConnection < 1)
            errors.Add($"{SectionName}:MaxConcurrentStreamsPerConnection must be at least 1, was {MaxConcurrentStreamsPerConnection}.");
        if (MaxRequestDeadlineMs < 0) errors.Add($"{SectionName}:MaxRequestDeadlineMs must not be negative (0 means no limit), was {MaxRequestDeadlineMs}.");
        if (OrleansMaxMessageBodyBytes < 0) errors.Add($"{SectionName}:OrleansMaxMessageBodyBytes must not be negative (0 means Orleans' default), was {OrleansMaxMessageBodyBytes}.");
        return errors;
    }
}
