using Orleans.Services;

namespace RaftKv.Grains;

/// <summary>
/// The RaftNode grain service: one per silo (a system target pinned to it), a thin door to the silo's own Raft node
/// runtime. Grains reach the leader's instance by <c>SiloAddress</c> (see <c>IRaftNodeServiceClient</c> in
/// RaftKv.Grains), never by hashing a grain id onto the ring. Raft messages never travel through it: peers talk over
/// the node runtime's own gRPC mesh.
/// </summary>
/// <remarks>
/// Errors are <see cref="RaftKvException"/>s: <see cref="RaftKvNotLeaderException"/> from a node that is not the
/// leader (nothing was proposed), <see cref="RaftKvUnavailableException"/> when the node cannot serve now.
/// Membership changes and leadership transfer run on the leader: a follower throws
/// <see cref="RaftKvNotLeaderException"/> (nothing changed). Each completes once the change has committed (a transfer:
/// once the target leads) and returns the membership; <see cref="RaftKvMembershipChangeRefusedException"/> when the
/// change cannot be made.
/// </remarks>
[Alias("raftkv.IRaftNodeService")]
public interface IRaftNodeService : IGrainService
{
    /// <summary>
    /// Proposes one write of session <paramref name="sessionId"/> with its sequence number; completes once it is
    /// committed and applied on this node (the leader). A retry with the same (session, sequence) is answered from
    /// the replicated session table and never applied twice.
    /// </summary>
    [Alias("Propose")]
    Task<KvWriteResult> ProposeAsync(ulong sessionId, ulong sequence, KvWrite write);

    /// <summary>Registers a new client session through the log (on the leader); returns its id.</summary>
    [Alias("RegisterSession")]
    Task<ulong> RegisterSessionAsync();

    /// <summary>Keeps a session alive through the log (on the leader); throws <see cref="RaftKvSessionExpiredException"/> if it is gone.</summary>
    [Alias("KeepAlive")]
    Task KeepAliveAsync(ulong sessionId);

    /// <summary>Reads one key on this node: linearizable (ReadIndex, works on a follower too) unless Stale is asked for.</summary>
    [Alias("Read")]
    Task<KvItem?> ReadAsync(byte[] key, ReadConsistency consistency);

    /// <summary>Reads up to <paramref name="limit"/> keys starting with <paramref name="prefix"/>, in key order.</summary>
    [Alias("Scan")]
    Task<IReadOnlyList<KvItem>> ScanAsync(byte[] prefix, int limit, ReadConsistency consistency);

    /// <summary>This node's Raft state: id, role, term, leader, commit and applied index, members.</summary>
    [Alias("Status")]
    Task<RaftNodeStatus> GetStatusAsync();

    /// <summary>The configuration as this node sees it after a ReadIndex (current as of the call).</summary>
    [Alias("MemberList")]
    Task<RaftMembership> ListMembersAsync();

    /// <summary>Leader only: adds node <paramref name="nodeId"/> as a learner reachable at the given addresses (replicated to every member first).</summary>
    [Alias("MemberAddLearner")]
    Task<RaftMembership> AddLearnerAsync(ulong nodeId, string peerAddress, string clientAddress);

    /// <summary>Leader only: makes a learner a voter; refused while it is more than RaftKv:MaxPromotionLagEntries behind.</summary>
    [Alias("MemberPromote")]
    Task<RaftMembership> PromoteLearnerAsync(ulong nodeId);

    /// <summary>Leader only: removes a voter or learner (the leader itself steps down once its removal commits).</summary>
    [Alias("MemberRemove")]
    Task<RaftMembership> RemoveMemberAsync(ulong nodeId);

    /// <summary>Leader only: moves leadership to a voter (Raft thesis 3.10); writes are refused meanwhile.</summary>
    [Alias("LeaderTransfer")]
    Task<RaftMembership> TransferLeadershipAsync(ulong targetNodeId);
}
