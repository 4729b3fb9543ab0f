using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Node;

/// <summary>
/// What hosting (the client gateway, the RaftNode grain service) needs from the local node: propose commands, obtain
/// linearizable read points, read the applied state, and know who leads. <see cref="NodeRuntime"/> implements it over
/// its Raft driver loop; tests may fake it.
/// </summary>
public interface IRaftKvNode
{
    ulong NodeId { get; }

    /// <summary>A snapshot of the local Raft state (role, term, leader, commit/applied index, members).</summary>
    RaftStatus Status { get; }

    /// <summary>
    /// Raised whenever this node's role, term or known leader changes, with <see cref="Status"/> as it is then: every
    /// change, in order, on the node's driver thread. Handlers must be quick, must not block and must not throw (they
    /// hold up the node). Nodes that cannot report changes (test fakes) never raise it.
    /// </summary>
    event Action<RaftStatus>? LeadershipChanged
    {
        add { }
        remove { }
    }

    /// <summary>The applied key-value state. Read it only after <see cref="ReadIndexAsync"/> for linearizable reads.</summary>
    IKvStateMachine StateMachine { get; }

    /// <summary>
    /// Proposes an encoded <see cref="KvCommand"/> and completes with the state machine's encoded
    /// <see cref="KvReply"/> once the entry is committed and applied locally.
    /// Throws <see cref="NotLeaderException"/> when this node is not the leader, and
    /// <see cref="UnavailableException"/> when the entry was lost to a leader change (retry with the same sequence
    /// number: the session table makes that safe) or the node is shutting down.
    /// </summary>
    Task<ReadOnlyMemory<byte>> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken);

    /// <summary>
    /// Raft thesis 6.4: completes once the local state machine has applied at least a read index confirmed by a
    /// quorum heartbeat round (asking the leader if this node is a follower). Throws
    /// <see cref="UnavailableException"/> if leadership cannot be confirmed: never returns for a stale read.
    /// </summary>
    Task ReadIndexAsync(CancellationToken cancellationToken);

    /// <summary>The client (gateway) address of a member, for leader hints and forwarding; null if unknown.</summary>
    string? ClientAddressOf(ulong nodeId);

    /// <summary>The configuration (voters, learners, their addresses) and the leader, as this node sees them.</summary>
    ClusterMembership Membership { get; }

    /// <summary>
    /// Leader only: adds a learner (addresses replicated first) and completes when the change has committed, with the
    /// new membership. Throws <see cref="NotLeaderException"/> on a follower (nothing proposed),
    /// <see cref="MembershipChangeRefusedException"/> for a change that cannot be made, <see cref="ArgumentException"/>
    /// for malformed addresses, <see cref="UnavailableException"/> when leadership is lost or moving (retry).
    /// </summary>
    Task<ClusterMembership> AddLearnerAsync(NodeMember member, CancellationToken cancellationToken);

    /// <summary>Leader only: promotes a learner that is close enough to the leader's log; completes on commit. Errors as <see cref="AddLearnerAsync"/>.</summary>
    Task<ClusterMembership> PromoteLearnerAsync(ulong nodeId, CancellationToken cancellationToken);

    /// <summary>Leader only: removes a voter or learner (possibly this leader, which steps down after the commit). Errors as <see cref="AddLearnerAsync"/>.</summary>
    Task<ClusterMembership> RemoveMemberAsync(ulong nodeId, CancellationToken cancellationToken);

    /// <summary>Leader only: moves leadership to a voter and completes once it leads (Raft thesis 3.10). Errors as <see cref="AddLearnerAsync"/>.</summary>
    Task<ClusterMembership> TransferLeadershipAsync(ulong target, CancellationToken cancellationToken);

    /// <summary>
    /// Captures the applied state as it is now (cheap: O(sessions) on the driver thread) with the Raft metadata a
    /// snapshot file records (index = the applied index, its term, the configuration there), for a backup. Call
    /// <see cref="ReadIndexAsync"/> first so the image holds every write acknowledged before the call. The caller
    /// must dispose the result: it holds the state machine's store until then.
    /// </summary>
    Task<CapturedSnapshot> CaptureSnapshotAsync(CancellationToken cancellationToken) =>
        throw new NotSupportedException("this node cannot capture snapshots");
}

/// <summary>A point-in-time image of the applied state and its Raft metadata; see <see cref="IRaftKvNode.CaptureSnapshotAsync"/>.</summary>
public sealed class CapturedSnapshot(SnapshotMetadata metadata, IStateMachineSnapshot image) : IDisposable
{
    public SnapshotMetadata Metadata { get; } = metadata;

    /// <summary>Writes the state machine's bytes (the data part of a snapshot file); may run on any thread.</summary>
    public IStateMachineSnapshot Image { get; } = image;

    public void Dispose() => Image.Dispose();
}

/// <summary>This node is not the leader; <see cref="LeaderHint"/> names the leader if known (0 if not).</summary>
public sealed class NotLeaderException(ulong leaderHint) : Exception($"not the leader (leader hint: {leaderHint})")
{
    public ulong LeaderHint { get; } = leaderHint;
}

/// <summary>
/// The request could not be served now (no leader, leadership lost, shutting down); retrying is safe.
/// <see cref="MayHaveBeenApplied"/> is false only when a proposal certainly never reached the log (so it can never
/// be applied); a proposal lost to a leader change may still be committed by the next leader. <see cref="LeaderHint"/>
/// names the leader when one is known (0 if not), so a client can go there directly.
/// </summary>
public sealed class UnavailableException(string message, bool mayHaveBeenApplied = true, ulong leaderHint = 0) : Exception(message)
{
    public bool MayHaveBeenApplied { get; } = mayHaveBeenApplied;

    public ulong LeaderHint { get; } = leaderHint;
}
