using System.Globalization;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Node;

namespace RaftKv.ClientGateway;

/// <summary>
/// The gateway's failures as gRPC statuses with structured trailers (<see cref="KvMetadata"/>, docs/api.md). Every
/// failure the gateway produces says whether the command may have been applied, so a client never has to guess
/// from a status message.
/// </summary>
internal static class KvGatewayErrors
{
    public static RpcException Failure(StatusCode code, string detail, bool mayHaveApplied, Metadata? trailers = null)
    {
        trailers ??= [];
        trailers.Add(KvMetadata.MayHaveAppliedTrailer, mayHaveApplied ? "true" : "false");
        return new RpcException(new Status(code, detail), trailers);
    }

    /// <summary>Refused before anything was proposed: nothing was, or ever will be, applied.</summary>
    public static RpcException InvalidArgument(string detail) => Failure(StatusCode.InvalidArgument, detail, mayHaveApplied: false);

    /// <summary>The session expired (or never existed): the state machine refused the command without applying it.</summary>
    public static RpcException SessionExpired(ulong sessionId) => Failure(StatusCode.FailedPrecondition,
        $"session expired: session {sessionId} expired or was never registered; register a new session", mayHaveApplied: false,
        new Metadata { { KvMetadata.SessionExpiredTrailer, "true" } });

    /// <summary>No node is known to lead (or this node's view names itself): nothing was proposed.</summary>
    public static RpcException NoLeader() => Failure(StatusCode.Unavailable, "no leader; retry", mayHaveApplied: false);

    /// <summary>This node is not the leader and did not forward: nothing was proposed. Names the leader when known.</summary>
    public static RpcException NotLeader(ulong leaderId, string? leaderEndpoint)
    {
        var trailers = new Metadata { { KvMetadata.LeaderIdTrailer, leaderId.ToString(CultureInfo.InvariantCulture) } };
        if (leaderEndpoint is not null) trailers.Add(KvMetadata.LeaderEndpointTrailer, leaderEndpoint);
        return Failure(StatusCode.Unavailable, $"not the leader; the leader is node {leaderId}", mayHaveApplied: false, trailers);
    }

    /// <summary>
    /// The node could not serve now (leadership lost or being transferred, shutting down): UNAVAILABLE, with the
    /// leader trailers when the node named the leader (or the transfer target) to retry at.
    /// </summary>
    public static RpcException Unavailable(UnavailableException unavailable, string? leaderEndpoint, bool mayHaveApplied)
    {
        ArgumentNullException.ThrowIfNull(unavailable);
        var trailers = new Metadata();
        if (unavailable.LeaderHint != 0)
        {
            trailers.Add(KvMetadata.LeaderIdTrailer, unavailable.LeaderHint.ToString(CultureInfo.InvariantCulture));
            if (leaderEndpoint is not null) trailers.Add(KvMetadata.LeaderEndpointTrailer, leaderEndpoint);
        }
        return Failure(StatusCode.Unavailable, $"{unavailable.Message}; retry", mayHaveApplied, trailers);
    }

    /// <summary>
    /// A failure the leader's gateway returned to a forwarded request, passed on with its RaftKv trailers. A failure
    /// without a may-have-applied trailer (the leader was unreachable mid-call, or the deadline passed) may have been
    /// applied.
    /// </summary>
    public static RpcException Forwarded(RpcException failure)
    {
        var trailers = new Metadata();
        bool saysWhetherApplied = false;
        foreach (Metadata.Entry entry in failure.Trailers)
        {
            if (entry.IsBinary || !entry.Key.StartsWith("raftkv-", StringComparison.Ordinal)) continue;
            trailers.Add(entry.Key, entry.Value);
            saysWhetherApplied |= entry.Key == KvMetadata.MayHaveAppliedTrailer;
        }
        if (!saysWhetherApplied) trailers.Add(KvMetadata.MayHaveAppliedTrailer, "true");
        return new RpcException(failure.Status, trailers);
    }
}
