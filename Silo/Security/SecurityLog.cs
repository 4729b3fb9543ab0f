using Microsoft.Extensions.Logging;

namespace RaftKv.Silo.Security;

/// <summary>Log events of the silo's TLS and authentication (event ids 900-919).</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 900, Level = LogLevel.Information, Message = "TLS on: certificate {Subject} ({Thumbprint}, valid until {NotAfter:u}); peers need mutual TLS, client authentication {ClientAuthentication}, Orleans TLS {OrleansTls}")]
    public static partial void TlsOn(ILogger logger, string subject, string thumbprint, DateTime notAfter, string clientAuthentication, bool orleansTls);

    [LoggerMessage(EventId = 901, Level = LogLevel.Information, Message = "Reloaded the TLS material: certificate {Subject} ({Thumbprint}, valid until {NotAfter:u}), {Tokens} client tokens")]
    public static partial void Reloaded(ILogger logger, string subject, string thumbprint, DateTime notAfter, int tokens);

    [LoggerMessage(EventId = 902, Level = LogLevel.Warning, Message = "Kept the previous TLS material: reloading failed: {Reason}")]
    public static partial void ReloadFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 903, Level = LogLevel.Warning, Message = "Refused a peer connection at the TLS handshake: {Reason}")]
    public static partial void PeerRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 904, Level = LogLevel.Warning, Message = "Refused a client certificate at the TLS handshake: {Reason}")]
    public static partial void ClientCertificateRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 905, Level = LogLevel.Information, Message = "Refused an unauthenticated call to {Path} from {Remote}: {Reason}")]
    public static partial void Unauthenticated(ILogger logger, string path, string remote, string reason);

    [LoggerMessage(EventId = 906, Level = LogLevel.Warning, Message = "Peer {Peer} presented a certificate that does not name it: {Reason}")]
    public static partial void PeerServerRefused(ILogger logger, ulong peer, string reason);

    [LoggerMessage(EventId = 907, Level = LogLevel.Warning, Message = "Refused an Orleans connection's certificate: {Reason}")]
    public static partial void OrleansRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 908, Level = LogLevel.Information, Message = "Refused a call to {Path}: deadline {DeadlineMs} ms exceeds RaftKv:Limits:MaxRequestDeadlineMs={MaxMs}")]
    public static partial void DeadlineTooLong(ILogger logger, string path, long deadlineMs, int maxMs);
}
