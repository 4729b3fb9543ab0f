using System.Globalization;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Configuration;
using Orleans.Connections.Security;
using RaftKv.Client;
using RaftKv.Client.Security;
using RaftKv.Grains.Membership;
using RaftKv.Mesh;
using RaftKv.Node;

namespace RaftKv.Silo.Security;

/// <summary>
/// Wires <see cref="SecurityOptions"/> and <see cref="LimitsOptions"/> into the silo: TLS on Kestrel's peer and client
/// listeners, the mesh's and the gateway's outgoing connections, Orleans' connections, and the client port's checks
/// (authentication and deadline) that run before any request is handled. See docs/security.md.
/// </summary>
public static class SiloSecurity
{
    /// <summary>
    /// The peer port: TLS with the node's (reloadable) certificate, and a client certificate required from every peer,
    /// CA-signed and naming a configured member; anything else is refused at the handshake, before any Raft byte.
    /// </summary>
    public static void UsePeerTls(ListenOptions listen, NodeCertificates certificates)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(certificates);
        ILogger logger = Logger(listen.ApplicationServices);
        listen.UseHttps(https =>
        {
            https.ServerCertificateSelector = (_, _) => certificates.Certificate;
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.CheckCertificateRevocation = false;
            https.ClientCertificateValidation = (certificate, _, _) =>
            {
                if (certificates.IsMember(certificate, out _, out string reason)) return true;
                SecurityLog.PeerRefused(logger, reason);
                return false;
            };
        });
    }

    /// <summary>
    /// The client port: TLS with the node's certificate; a client certificate is asked for (required with
    /// <see cref="SecurityOptions.RequireClientCertificate"/>) and, when presented, must chain to the cluster CA.
    /// </summary>
    public static void UseClientTls(ListenOptions listen, NodeCertificates certificates, SecurityOptions options)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(certificates);
        ArgumentNullException.ThrowIfNull(options);
        ILogger logger = Logger(listen.ApplicationServices);
        listen.UseHttps(https =>
        {
            https.ServerCertificateSelector = (_, _) => certificates.Certificate;
            https.ClientCertificateMode = options.RequireClientCertificate ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.AllowCertificate;
            https.CheckCertificateRevocation = false;
            https.ClientCertificateValidation = (certificate, _, _) =>
            {
                if (certificates.IsTrusted(certificate, out string reason)) return true;
                SecurityLog.ClientCertificateRefused(logger, reason);
                return false;
            };
        });
    }

    /// <summary>
    /// The mesh's TLS to peer <paramref name="peerId"/>: presents the node's current certificate and accepts the peer's
    /// only if it chains to the cluster CA and names that very peer (raftkv://node/&lt;id&gt;); host names are not what
    /// identifies a peer, its node id is.
    /// </summary>
    public static SslClientAuthenticationOptions PeerClientTls(NodeCertificates certificates, ulong peerId, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        return new SslClientAuthenticationOptions
        {
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificates.Certificate,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is null) return false;
                using X509Certificate2 remote = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                if (!certificates.IsMember(remote, out ulong named, out string reason) || !RaftKvCertificates.NodeIds(remote).Contains(peerId))
                {
                    SecurityLog.PeerServerRefused(logger, peerId, named != 0 && reason.Length == 0 ? $"it names node {named}" : reason);
                    return false;
                }
                return true;
            },
        };
    }

    /// <summary>Options of the mesh with TLS to every https:// peer (<see cref="PeerClientTls"/>).</summary>
    public static MeshOptions MeshOptions(NodeCertificates? certificates, LimitsOptions limits, ILogger logger) => new()
    {
        PeerTls = certificates is null ? null : peerId => PeerClientTls(certificates, peerId, logger),
        MaxMessageSizeBytes = limits?.PeerMaxReceiveMessageBytes ?? new MeshOptions().MaxMessageSizeBytes,
    };

    /// <summary>
    /// The HTTP handler of a connection from this node to another node's client port (forwarding, the membership
    /// table): presents the node's certificate (so the other gateway authenticates it like a client certificate) and
    /// accepts only a member's certificate chaining to the cluster CA.
    /// </summary>
    public static SocketsHttpHandler NodeToGatewayHandler(NodeCertificates certificates) => RaftKvClientOptions.WithoutGrpcLoadBalancing(new()
    {
        EnableMultipleHttp2Connections = true,
        SslOptions = new SslClientAuthenticationOptions
        {
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificates.Certificate,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is null) return false;
                using X509Certificate2 remote = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return certificates.IsMember(remote, out _, out _);
            },
        },
    });

    /// <summary>The Raft-backed membership table's client: the node's certificate and the cluster CA.</summary>
    public static void ConfigureMembershipClient(RaftKvClientOptions client, NodeCertificates certificates)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(certificates);
        client.TrustedCertificateAuthorities = certificates.Authorities;
        client.ClientCertificateSelector = () => certificates.Certificate;
    }

    /// <summary>
    /// Orleans' silo and gateway connections over TLS with the node's certificate, both ends authenticated: the remote
    /// side (another silo, or an Orleans client at the gateway) must present a certificate chaining to the cluster CA.
    /// </summary>
    public static void UseOrleansTls(Orleans.Hosting.ISiloBuilder silo, NodeCertificates certificates)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(certificates);
        silo.UseTls(tls =>
        {
            tls.LocalCertificate = certificates.Certificate;
            tls.LocalServerCertificateSelector = (_, _) => certificates.Certificate;
            tls.LocalClientCertificateSelector = (_, _, _, _, _) => certificates.Certificate;
            tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            tls.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            tls.RemoteCertificateValidation = (certificate, _, _) =>
            {
                if (certificate is null)
                {
                    SecurityLog.OrleansRefused(certificates.Logger, "no certificate");
                    return false;
                }
                if (certificates.IsTrusted(certificate, out string reason)) return true;
                SecurityLog.OrleansRefused(certificates.Logger, $"{certificate.Subject}: {reason}");
                return false;
            };
        });
    }

    /// <summary>The Raft-backed membership table reaches the client ports over TLS with the node's certificate.</summary>
    public static void UseMembershipClientTls(Orleans.Hosting.ISiloBuilder silo, NodeCertificates certificates)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(certificates);
        silo.Services.Configure<RaftKvClusteringOptions>(clustering => clustering.ConfigureClient = client => ConfigureMembershipClient(client, certificates));
    }

    /// <summary>
    /// The client port's checks, before any request is handled: authentication (a CA-signed client certificate from the
    /// handshake, or a configured bearer token; otherwise UNAUTHENTICATED) and the deadline limit (a call asking for
    /// more than <see cref="LimitsOptions.MaxRequestDeadlineMs"/> gets INVALID_ARGUMENT; one asking for none gets it).
    /// </summary>
    public static void UseClientPortChecks(IApplicationBuilder app, int clientPort, SecurityOptions security, NodeCertificates? certificates, LimitsOptions limits)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(security);
        ArgumentNullException.ThrowIfNull(limits);
        bool authenticate = security.ClientAuthenticationRequired && certificates is not null;
        ILogger logger = Logger(app.ApplicationServices);
        // Requests to other ports pass straight through, without an async state machine of their own.
        app.Use((context, next) => context.Connection.LocalPort != clientPort ? next(context) : CheckAsync(context, next));

        async Task CheckAsync(HttpContext context, RequestDelegate next)
        {
            if (authenticate && !IsAuthenticated(context, certificates!, out string reason))
            {
                SecurityLog.Unauthenticated(logger, context.Request.Path, context.Connection.RemoteIpAddress?.ToString() ?? "?", reason);
                context.Response.Headers.WWWAuthenticate = "Bearer";
                SetGrpcError(context, StatusCode.Unauthenticated, $"{reason}: present a client certificate signed by the cluster CA or 'authorization: Bearer <token>'");
                await DrainUnreadRequestAsync(context, limits.ClientMaxReceiveMessageBytes).ConfigureAwait(false);
                return;
            }
            if (limits.MaxRequestDeadlineMs > 0 && !ApplyDeadlineLimit(context, limits.MaxRequestDeadlineMs, logger))
            {
                await DrainUnreadRequestAsync(context, limits.ClientMaxReceiveMessageBytes).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
            await DrainUnreadRequestAsync(context, limits.ClientMaxReceiveMessageBytes).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The peer port's message size limit stays a clear RESOURCE_EXHAUSTED for the sender too (see
    /// <see cref="DrainUnreadRequestAsync"/>).
    /// </summary>
    public static void UsePeerPortChecks(IApplicationBuilder app, int peerPort, LimitsOptions limits)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(limits);
        app.Use((context, next) => context.Connection.LocalPort == peerPort ? ThenDrainAsync(context, next) : next(context));

        async Task ThenDrainAsync(HttpContext context, RequestDelegate next)
        {
            await next(context).ConfigureAwait(false);
            await DrainUnreadRequestAsync(context, limits.PeerMaxReceiveMessageBytes).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether the client has sent its whole request (END_STREAM seen), so Kestrel will not reset the stream whatever
    /// is still buffered. Peeks without consuming; a body that cannot be read any more counts as received (a drain
    /// would stop at once too).
    /// </summary>
    private static bool RequestFullyReceived(HttpContext context)
    {
        try
        {
            System.IO.Pipelines.PipeReader body = context.Request.BodyReader;
            if (!body.TryRead(out System.IO.Pipelines.ReadResult result)) return false;
            body.AdvanceTo(result.Buffer.Start);
            return result.IsCompleted;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            return true;
        }
    }

    /// <summary>
    /// When a call fails before its request was read to the end (a message over the size limit is refused from its
    /// 5-byte header), Kestrel would reset the stream right after the response, and a client still sending sees the
    /// reset (CANCELLED) instead of the RESOURCE_EXHAUSTED it was sent. Reading the rest first (bounded: at most twice
    /// the limit, for at most 5 s) lets the status arrive; beyond the bound, the reset happens as before.
    /// </summary>
    private static async Task DrainUnreadRequestAsync(HttpContext context, int limitBytes)
    {
        // Every successful call has read its request to the end: then there is nothing to drain, and no timer, linked
        // token source or 64 KiB buffer per call (this runs after every request on the client port).
        if (context.RequestAborted.IsCancellationRequested || RequestFullyReceived(context)) return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long budget = 2L * limitBytes;
            int read;
            while (budget > 0 && (read = await context.Request.Body.ReadAsync(buffer, timeout.Token).ConfigureAwait(false)) > 0)
            {
                budget -= read;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException or Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            // The client went away, or the body cannot be read any more: nothing to wait for.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Makes the response a trailers-only gRPC error (HTTP 200, grpc-status in the headers, no body); sent when the pipeline ends.</summary>
    public static void SetGrpcError(HttpContext context, StatusCode status, string message)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)status).ToString(CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
    }

    private static bool IsAuthenticated(HttpContext context, NodeCertificates certificates, out string reason)
    {
        // Kestrel validated any certificate presented at the handshake against the cluster CA and refused the
        // connection otherwise, so its presence is proof.
        if (context.Connection.ClientCertificate is not null)
        {
            reason = "";
            return true;
        }
        string authorization = context.Request.Headers.Authorization.ToString();
        if (authorization.Length == 0)
        {
            reason = "no credentials";
            return false;
        }
        if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            reason = "the authorization header is not 'Bearer <token>'";
            return false;
        }
        if (!certificates.IsClientToken(authorization.AsSpan("Bearer ".Length).Trim()))
        {
            reason = "the bearer token is not valid";
            return false;
        }
        reason = "";
        return true;
    }

    /// <summary>
    /// Enforces the deadline limit on the request's grpc-timeout header before Grpc.AspNetCore reads it. Returns false
    /// (having set the error) when the call asks for too long.
    /// </summary>
    private static bool ApplyDeadlineLimit(HttpContext context, int maxMs, ILogger logger)
    {
        string timeout = context.Request.Headers["grpc-timeout"].ToString();
        if (timeout.Length == 0)
        {
            context.Request.Headers["grpc-timeout"] = maxMs.ToString(CultureInfo.InvariantCulture) + "m";
            return true;
        }
        long? requestedMs = ParseGrpcTimeoutMs(timeout);
        if (requestedMs is null)
        {
            SetGrpcError(context, StatusCode.InvalidArgument, $"malformed grpc-timeout header '{timeout}'");
            return false;
        }
        if (requestedMs > maxMs)
        {
            SecurityLog.DeadlineTooLong(logger, context.Request.Path, requestedMs.Value, maxMs);
            SetGrpcError(context, StatusCode.InvalidArgument,
                $"the call's deadline ({requestedMs} ms) exceeds this server's maximum, RaftKv:Limits:MaxRequestDeadlineMs={maxMs}; use a shorter deadline");
            return false;
        }
        return true;
    }

    /// <summary>gRPC's "TimeoutValue TimeoutUnit" (at most 8 digits; H, M, S, m, u, n) in ms, rounded up; null if malformed.</summary>
    public static long? ParseGrpcTimeoutMs(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length is < 2 or > 9 || !long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long amount)) return null;
        return value[^1] switch
        {
            'H' => amount * 3_600_000,
            'M' => amount * 60_000,
            'S' => amount * 1_000,
            'm' => amount,
            'u' => (amount + 999) / 1_000,
            'n' => (amount + 999_999) / 1_000_000,
            _ => null,
        };
    }

    private static ILogger Logger(IServiceProvider services) =>
        services.GetService<ILoggerFactory>()?.CreateLogger("RaftKv.Silo.Security") ?? NullLogger.Instance;
}
