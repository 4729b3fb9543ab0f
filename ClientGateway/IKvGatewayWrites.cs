using RaftKv.StateMachine;

namespace RaftKv.ClientGateway;

/// <summary>
/// Where the gateway sends its writes (RegisterSession, KeepAlive, Put, Delete, CompareAndSwap). A silo registers
/// the implementation over the Orleans session grains, so gRPC clients and Orleans clients share one exactly-once
/// path (the grain serializes a session and follows the leader). When none is registered (the gateway's unit tests
/// host it over a bare <c>IRaftKvNode</c>), the gateway proposes on the local node itself, serialized per session by
/// its own gates and forwarded to the leader's gateway.
/// </summary>
/// <remarks>
/// The gateway validates every request before it calls this. Implementations return the Ok, NotFound and CasFailed
/// outcomes and throw every failure as an <see cref="Grpc.Core.RpcException"/> with the trailers of docs/api.md
/// (see <see cref="KvGatewayErrors"/>).
/// </remarks>
public interface IKvGatewayWrites
{
    /// <summary>
    /// False while this path cannot serve (a silo not yet active, or stopping): the gateway then proposes on the local
    /// node itself. The silo's own Raft-backed membership table writes through the gateway before Orleans is active,
    /// so the gateway must not wait for Orleans.
    /// </summary>
    bool IsReady { get; }

    /// <summary>Registers a new session and returns its id.</summary>
    Task<ulong> RegisterSessionAsync(CancellationToken cancellationToken);

    /// <summary>Keeps session <paramref name="sessionId"/> alive.</summary>
    Task KeepAliveAsync(ulong sessionId, CancellationToken cancellationToken);

    /// <summary>
    /// Applies <paramref name="command"/> (a validated Put, Delete or CompareAndSwap carrying its session and
    /// sequence; its timestamp is not used) at most once; the reply has status Ok, NotFound or CasFailed.
    /// </summary>
    Task<KvReply> WriteAsync(KvCommand command, CancellationToken cancellationToken);
}
