using System.Security.Cryptography.X509Certificates;
using RaftKv.Client.Security;

namespace RaftKv.Client;

/// <summary>Options of <see cref="RaftKvClient"/>. Call <see cref="Validate"/> (the client does) before use.</summary>
public sealed class RaftKvClientOptions
{
    /// <summary>Gateway addresses to start from ("http://host:port"); the leader is discovered through Status.</summary>
    public IList<string> Endpoints { get; set; } = [];

    /// <summary>Attempts per request, first included, before the last retryable error is surfaced.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Deadline of one attempt.</summary>
    public int AttemptTimeoutMs { get; set; } = 5_000;

    /// <summary>Backoff before the second attempt; doubles per attempt up to <see cref="MaxBackoffMs"/>.</summary>
    public int InitialBackoffMs { get; set; } = 50;

    /// <summary>One attempt of a membership call (which waits for its change to commit, or a transfer to finish) is bounded by this.</summary>
    public int AdminAttemptTimeoutMs { get; set; } = 30_000;

    public int MaxBackoffMs { get; set; } = 1_000;

    /// <summary>
    /// An HTTP handler shared by many clients (each client is one session with one request in flight), so that they
    /// multiplex over a few HTTP/2 connections instead of opening one each. Not disposed by the client.
    /// </summary>
    public HttpMessageHandler? SharedHttpHandler { get; set; }

    /// <summary>
    /// With a <see cref="SharedHttpHandler"/>: the concurrent writes of all clients sharing it (and the same bearer
    /// token) to one gateway go out together as WriteBatch calls, each write keeping its own session, result and
    /// retries; a lone write is a batch of one. False sends every write as its own Put, Delete or CompareAndSwap call.
    /// A gateway without WriteBatch (older versions) gets single calls either way.
    /// </summary>
    public bool BatchWrites { get; set; } = true;

    /// <summary>
    /// CA certificates that an https:// gateway's certificate must chain to (only these are trusted; the system store
    /// is not consulted). Null: the system's trust store decides, as for any https:// address.
    /// </summary>
    public X509Certificate2Collection? TrustedCertificateAuthorities { get; set; }

    /// <summary>The certificate (with its private key) presented to gateways that ask for one (mutual TLS).</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Like <see cref="ClientCertificate"/>, but asked on every new connection (certificates that rotate); wins over it.</summary>
    public Func<X509Certificate2?>? ClientCertificateSelector { get; set; }

    /// <summary>A bearer token sent as "authorization: Bearer &lt;token&gt;" with every call. Needs https:// endpoints.</summary>
    public string? BearerToken { get; set; }

    /// <summary>Whether any TLS setting (<see cref="TrustedCertificateAuthorities"/>, a client certificate) is set.</summary>
    public bool HasTlsSettings => TrustedCertificateAuthorities is not null || ClientCertificate is not null || ClientCertificateSelector is not null;

    /// <summary>
    /// An HTTP/2 handler with this client's TLS settings, for <see cref="SharedHttpHandler"/> when many clients share
    /// connections (the caller owns and disposes it). It turns gRPC's client-side load balancing off (see
    /// <see cref="WithoutGrpcLoadBalancing"/>).
    /// </summary>
    public SocketsHttpHandler CreateHttpHandler()
    {
        var handler = WithoutGrpcLoadBalancing(new SocketsHttpHandler { EnableMultipleHttp2Connections = true });
        if (!HasTlsSettings) return handler;
        X509Certificate2Collection? authorities = TrustedCertificateAuthorities;
        Func<X509Certificate2?>? selector = ClientCertificateSelector;
        X509Certificate2? fixedCertificate = ClientCertificate;
        handler.SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            LocalCertificateSelectionCallback = (_, _, _, _, _) => (selector is not null ? selector() : fixedCertificate)!,
            RemoteCertificateValidationCallback = authorities is null ? null : (_, certificate, _, errors) =>
            {
                // Names are checked as usual; the chain only against the configured CAs.
                if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return false;
                using X509Certificate2 remote = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return RaftKvCertificates.ChainsTo(remote, authorities, out _);
            },
        };
        return handler;
    }

    /// <summary>
    /// Turns Grpc.Net.Client's client-side load balancing off for channels on <paramref name="handler"/> (the switch
    /// Grpc.Net.Client reads from <see cref="SocketsHttpHandler.Properties"/>). A RaftKv channel has one address and the
    /// client picks the address itself (leader hints), so the balancer's connection management and the stream wrapper
    /// around every connection would be work without a purpose; without them connections are plain
    /// <see cref="SocketsHttpHandler"/> ones (each call still passes Grpc.Net.Client's balancing handler, which picks
    /// among the one address). Channel connectivity state (<c>GrpcChannel.State</c>) is then unavailable.
    /// </summary>
    public static SocketsHttpHandler WithoutGrpcLoadBalancing(SocketsHttpHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        handler.Properties["__GrpcLoadBalancingDisabled"] = true;
        return handler;
    }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Endpoints is null || Endpoints.Count == 0) errors.Add("At least one endpoint is required.");
        else
        {
            foreach (string endpoint in Endpoints)
            {
                if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                {
                    errors.Add($"Endpoint '{endpoint}' is not an absolute http:// or https:// address.");
                }
            }
        }
        if (MaxAttempts < 1) errors.Add("MaxAttempts must be at least 1.");
        if (AttemptTimeoutMs < 1) errors.Add("AttemptTimeoutMs must be positive.");
        if (AdminAttemptTimeoutMs < 1) errors.Add("AdminAttemptTimeoutMs must be positive.");
        if (InitialBackoffMs < 0) errors.Add("InitialBackoffMs must not be negative.");
        if (MaxBackoffMs < InitialBackoffMs) errors.Add("MaxBackoffMs must be at least InitialBackoffMs.");
        if (SharedHttpHandler is not null && HasTlsSettings)
            errors.Add("TLS settings apply to the client's own connections; with a SharedHttpHandler, configure TLS on that handler (CreateHttpHandler does).");
        if (BearerToken is not null)
        {
            if (BearerToken.Length == 0 || BearerToken.Any(char.IsWhiteSpace)) errors.Add("BearerToken must be non-empty and contain no whitespace.");
            if (Endpoints is not null && Endpoints.Any(e => !e.Trim().StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
                errors.Add("BearerToken needs https:// endpoints: a token sent in cleartext can be read by anyone on the path.");
        }
        return errors;
    }
}
