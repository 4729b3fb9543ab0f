using RaftKv.Client.Protos;
using RaftKv.Grpc;

namespace RaftKv.Client;

/// <summary>
/// The method descriptors of service <c>raftkv.v1.KV</c> (Protos/raftkv.proto). The gateway registers its handlers
/// and the client makes its calls with these same objects, so paths and message types cannot drift apart.
/// </summary>
public static class KvMethods
{
    public const string ServiceName = "raftkv.v1.KV";

    /// <summary>Request header: "1" asks a follower gateway to answer UNAVAILABLE with a leader hint instead of forwarding.</summary>
    public const string NoForwardHeader = "raftkv-no-forward";

    /// <summary>FAILED_PRECONDITION messages for an expired session start with this, so clients can tell it apart.</summary>
    public const string SessionExpiredPrefix = "session expired";

    /// <summary>UNAVAILABLE messages from a follower that did not forward end with "leader=&lt;id&gt;@&lt;address&gt;".</summary>
    public const string LeaderHintMarker = "leader=";

    public static readonly GrpcMethod<RegisterSessionRequest, RegisterSessionResponse> RegisterSession =
        new(MethodType.Unary, ServiceName, "RegisterSession", RegisterSessionRequest.Parser, RegisterSessionResponse.Parser);

    public static readonly GrpcMethod<KeepAliveRequest, KeepAliveResponse> KeepAlive =
        new(MethodType.Unary, ServiceName, "KeepAlive", KeepAliveRequest.Parser, KeepAliveResponse.Parser);

    public static readonly GrpcMethod<PutRequest, PutResponse> Put =
        new(MethodType.Unary, ServiceName, "Put", PutRequest.Parser, PutResponse.Parser);

    public static readonly GrpcMethod<GetRequest, GetResponse> Get =
        new(MethodType.Unary, ServiceName, "Get", GetRequest.Parser, GetResponse.Parser);

    public static readonly GrpcMethod<DeleteRequest, DeleteResponse> Delete =
        new(MethodType.Unary, ServiceName, "Delete", DeleteRequest.Parser, DeleteResponse.Parser);

    public static readonly GrpcMethod<CompareAndSwapRequest, CompareAndSwapResponse> CompareAndSwap =
        new(MethodType.Unary, ServiceName, "CompareAndSwap", CompareAndSwapRequest.Parser, CompareAndSwapResponse.Parser);

    public static readonly GrpcMethod<ScanRequest, ScanResponse> Scan =
        new(MethodType.Unary, ServiceName, "Scan", ScanRequest.Parser, ScanResponse.Parser);

    public static readonly GrpcMethod<StatusRequest, StatusResponse> Status =
        new(MethodType.Unary, ServiceName, "Status", StatusRequest.Parser, StatusResponse.Parser);
}
