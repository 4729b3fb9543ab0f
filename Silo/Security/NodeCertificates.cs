using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using RaftKv.Client.Security;
using RaftKv.Node;

namespace RaftKv.Silo.Security;

/// <summary>
/// The node's TLS material: its certificate and key, the cluster CA and the client tokens, loaded from the files named
/// in <see cref="SecurityOptions"/> and reloaded when they change. Every TLS handshake asks for <see cref="Certificate"/>
/// and <see cref="Authorities"/> afresh (Kestrel's ServerCertificateSelector, the mesh's and Orleans' selection
/// callbacks), so a rotated certificate is used from the next connection on; open connections keep theirs.
/// A reload that fails (a half-written file, a key that does not match) keeps the previous material and logs why.
/// Thread-safe.
/// </summary>
public sealed class NodeCertificates : IDisposable
{
    private readonly SecurityOptions _options;
    private readonly HashSet<ulong> _members;
    private readonly Lock _reloadLock = new();
    private Material _material;
    private Timer? _timer;
    private ILogger? _logger;

    /// <exception cref="InvalidDataException">A file cannot be loaded; the message names it.</exception>
    public NodeCertificates(SecurityOptions options, NodeOptions node)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(node);
        _options = options;
        _members = [.. node.Members.Select(m => m.Id)];
        NodeId = node.NodeId;
        _material = Load(options);
        if (!RaftKvCertificates.NodeIds(_material.Certificate).Contains(node.NodeId))
        {
            throw new InvalidDataException(
                $"the certificate '{options.CertificateFile}' does not name this node: it needs the subject alternative name URI {RaftKvCertificates.NodeUri(node.NodeId)}.");
        }
        if (!RaftKvCertificates.ChainsTo(_material.Certificate, _material.Authorities, out string error))
        {
            throw new InvalidDataException($"the certificate '{options.CertificateFile}' does not chain to the CA in '{options.CaFile}': {error}");
        }
    }

    public ulong NodeId { get; }

    /// <summary>The node's current certificate, with its private key.</summary>
    public X509Certificate2 Certificate => Volatile.Read(ref _material).Certificate;

    /// <summary>The cluster CA certificates.</summary>
    public X509Certificate2Collection Authorities => Volatile.Read(ref _material).Authorities;

    /// <summary>Where TLS events are logged once <see cref="StartWatching"/> ran (before any connection is served).</summary>
    internal ILogger Logger => _logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>How many times the material was reloaded since start.</summary>
    public int Reloads { get; private set; }

    /// <summary>Checks the files every <see cref="SecurityOptions.ReloadIntervalMs"/> from now on.</summary>
    public void StartWatching(ILogger logger)
    {
        _logger = logger;
        _timer = new Timer(_ => MaybeReload(), null, _options.ReloadIntervalMs, _options.ReloadIntervalMs);
    }

    /// <summary>Reloads if any file changed since the last load; returns whether it did.</summary>
    public bool MaybeReload()
    {
        lock (_reloadLock)
        {
            Material current = _material;
            if (Stamp(_options) == current.Stamp) return false;
            try
            {
                Material next = Load(_options);
                if (!RaftKvCertificates.NodeIds(next.Certificate).Contains(NodeId))
                    throw new InvalidDataException($"the new certificate does not name this node ({RaftKvCertificates.NodeUri(NodeId)})");
                if (!RaftKvCertificates.ChainsTo(next.Certificate, next.Authorities, out string error))
                    throw new InvalidDataException($"the new certificate does not chain to the CA: {error}");
                Volatile.Write(ref _material, next);
                Reloads++;
                if (_logger is not null) SecurityLog.Reloaded(_logger, next.Certificate.Subject, next.Certificate.Thumbprint, next.Certificate.NotAfter, next.Tokens.Count);
                return true;
            }
            catch (Exception e) when (e is InvalidDataException or CryptographicException or IOException or UnauthorizedAccessException)
            {
                // This runs on a timer, where an escaping exception would end the process. Keep serving with the previous material; try again when the files change again (maybe mid-write now).
                _material = current with { Stamp = Stamp(_options) };
                if (_logger is not null) SecurityLog.ReloadFailed(_logger, e.Message);
                return false;
            }
        }
    }

    /// <summary>A peer's certificate: CA-signed and naming a configured member (raftkv://node/&lt;id&gt;).</summary>
    public bool IsMember(X509Certificate2 certificate, out ulong nodeId, out string reason)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        nodeId = 0;
        if (!RaftKvCertificates.ChainsTo(certificate, Authorities, out reason)) return false;
        IReadOnlyList<ulong> named = RaftKvCertificates.NodeIds(certificate);
        nodeId = named.FirstOrDefault(_members.Contains);
        if (nodeId != 0) return true;
        reason = named.Count == 0
            ? $"the certificate '{certificate.Subject}' names no node (no {RaftKvCertificates.NodeUriPrefix}<id> subject alternative name)"
            : $"the certificate names node(s) {string.Join(", ", named)}, none of which is a member";
        return false;
    }

    /// <summary>A client's certificate: CA-signed.</summary>
    public bool IsTrusted(X509Certificate2 certificate, out string reason) => RaftKvCertificates.ChainsTo(certificate, Authorities, out reason);

    /// <summary>Whether <paramref name="token"/> is one of the configured client tokens (compared in constant time).</summary>
    public bool IsClientToken(ReadOnlySpan<char> token)
    {
        Span<byte> presented = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(token.ToArray()), presented);
        bool found = false;
        foreach (byte[] known in Volatile.Read(ref _material).Tokens)
        {
            found |= CryptographicOperations.FixedTimeEquals(presented, known);
        }
        return found;
    }

    public void Dispose() => _timer?.Dispose();

    private static Material Load(SecurityOptions options)
    {
        string stamp = Stamp(options);
        X509Certificate2 certificate = RaftKvCertificates.LoadCertificate(options.CertificateFile, options.KeyFile);
        X509Certificate2Collection authorities = RaftKvCertificates.LoadAuthorities(options.CaFile);
        var tokens = new List<byte[]>();
        foreach (string token in options.ClientTokens) tokens.Add(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        if (options.ClientTokensFile.Length > 0)
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(options.ClientTokensFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidDataException($"cannot read the token file '{options.ClientTokensFile}': {e.Message}", e);
            }
            foreach (string line in lines)
            {
                string token = line.Trim();
                if (token.Length > 0 && !token.StartsWith('#')) tokens.Add(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
            }
        }
        return new Material(certificate, authorities, tokens, stamp);
    }

    /// <summary>What identifies the files' current contents cheaply: each file's length and last write time.</summary>
    private static string Stamp(SecurityOptions options)
    {
        var stamp = new StringBuilder();
        foreach (string file in new[] { options.CertificateFile, options.KeyFile, options.CaFile, options.ClientTokensFile })
        {
            if (file.Length == 0) continue;
            var info = new FileInfo(file);
            stamp.Append(info.Exists ? $"{info.Length}@{info.LastWriteTimeUtc.Ticks};" : "missing;");
        }
        return stamp.ToString();
    }

    private sealed record Material(X509Certificate2 Certificate, X509Certificate2Collection Authorities, IReadOnlyList<byte[]> Tokens, string Stamp);
}
