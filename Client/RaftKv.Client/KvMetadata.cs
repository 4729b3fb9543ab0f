using Grpc.Core;
using RaftKv.Client.Protos;

namespace RaftKv.Client;

/// <summary>
/// The gRPC metadata of service <c>raftkv.v1.KV</c> beyond its messages (see docs/api.md). Errors carry structured
/// response trailers, so no client has to parse a status message.
/// </summary>
public static class KvMetadata
{
    /// <summary>Request header: "1" asks a follower gateway to answer UNAVAILABLE with a leader hint instead of forwarding.</summary>
    public const string NoForwardHeader = "raftkv-no-forward";

    /// <summary>Trailer on UNAVAILABLE from a node that is not the leader: the leader's Raft node id, when known.</summary>
    public const string LeaderIdTrailer = "raftkv-leader-id";

    /// <summary>Trailer on UNAVAILABLE from a node that is not the leader: the leader's gateway address ("http://host:port"), when known.</summary>
    public const string LeaderEndpointTrailer = "raftkv-leader-endpoint";

    /// <summary>Trailer "true" on FAILED_PRECONDITION when the session expired (or never existed): register a new session.</summary>
    public const string SessionExpiredTrailer = "raftkv-session-expired";

    /// <summary>
    /// Trailer on every failed write: "false" when the command was certainly not applied (it never reached the log,
    /// or the state machine refused it), "true" when it may have been applied. Absent means "may have been applied"
    /// (e.g. a deadline that expired on the client, or a server that never answered).
    /// </summary>
    public const string MayHaveAppliedTrailer = "raftkv-may-have-applied";

    /// <summary>The leader's gateway address from a failure's trailers, or null.</summary>
    public static string? LeaderEndpoint(RpcException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        string? endpoint = failure.Trailers.GetValue(LeaderEndpointTrailer);
        return endpoint is not null && Uri.TryCreate(endpoint, UriKind.Absolute, out _) ? endpoint : null;
    }

    /// <summary>The leader's node id from a failure's trailers, or 0.</summary>
    public static ulong LeaderId(RpcException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return ulong.TryParse(failure.Trailers.GetValue(LeaderIdTrailer), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out ulong id) ? id : 0;
    }

    /// <summary>True when the failure says the client's session expired.</summary>
    public static bool IsSessionExpired(RpcException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return failure.StatusCode == StatusCode.FailedPrecondition && failure.Trailers.GetValue(SessionExpiredTrailer) == "true";
    }

    /// <summary>False only when the server said the failed command was certainly not applied.</summary>
    public static bool MayHaveApplied(RpcException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return failure.Trailers.GetValue(MayHaveAppliedTrailer) != "false";
    }

    /// <summary>The "authorization: Bearer" header every call of a client with <paramref name="token"/> sends; null without a token.</summary>
    internal static Metadata? Authorization(string? token) => token is null ? null : new Metadata { { "authorization", "Bearer " + token } };

    /// <summary>
    /// A failed write of a WriteBatch as its result carries it: the status code and message, and the RaftKv trailers
    /// (text ones; binary trailers are not part of the contract).
    /// </summary>
    public static WriteError ToWriteError(RpcException failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var error = new WriteError { Code = (int)failure.StatusCode, Message = failure.Status.Detail ?? "" };
        foreach (Metadata.Entry entry in failure.Trailers)
        {
            if (!entry.IsBinary) error.Trailers[entry.Key] = entry.Value;
        }
        return error;
    }

    /// <summary>The failure a write's own call would have ended with, from its WriteBatch result.</summary>
    public static RpcException ToRpcException(WriteError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var trailers = new Metadata();
        foreach ((string key, string value) in error.Trailers) trailers.Add(key, value);
        return new RpcException(new Status((StatusCode)error.Code, error.Message), trailers);
    }
}
