using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Node;

/// <summary>
/// Membership changes and leadership transfer, end to end (Raft thesis chapter 4 and 3.10). The core decides; this
/// file waits for the outcome: a configuration change completes when its entry is applied on this leader, and a
/// transfer when this node sees the target lead. Refusals that a short wait cures (a change or an election of this
/// term not committed yet) are retried here until the caller's deadline; refusals that waiting cannot cure throw
/// <see cref="MembershipChangeRefusedException"/>.
/// </summary>
public sealed partial class RaftDriver
{
    private readonly List<(ulong Target, TaskCompletionSource<ulong> Done)> _transferWaiters = [];

    /// <summary>Every member this node knows an address for: the static members, then the replicated address book.</summary>
    private volatile IReadOnlyDictionary<ulong, NodeMember> _addresses;

    /// <summary>The configuration as this node sees it, with addresses.</summary>
    public ClusterMembership Membership => Describe(_status);

    private ClusterMembership Describe(RaftStatus status)
    {
        IReadOnlyDictionary<ulong, NodeMember> addresses = _addresses;
        return new ClusterMembership(status.NodeId, status.Leader, status.Term, status.ConfigurationPending,
            [.. status.Configuration.AllMembers.Select(id => new RaftMember(
                id, status.Configuration.IsVoter(id), addresses.GetValueOrDefault(id)?.PeerAddress ?? "", addresses.GetValueOrDefault(id)?.ClientAddress ?? ""))]);
    }

    /// <summary>
    /// Adds <paramref name="member"/> as a learner (on the leader): first replicates its addresses (so every node can
    /// reach it), then proposes the configuration entry and waits for it to commit. Asking again for a node that is
    /// already a learner at the same addresses returns the current membership (a joining node may retry).
    /// </summary>
    public async Task<ClusterMembership> AddLearnerAsync(NodeMember member, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(member);
        if (MemberAddressBook.Validate(member) is { } invalid) throw new ArgumentException(invalid, nameof(member));
        RaftStatus status = _status;
        if (status.Role != RaftRole.Leader) throw new NotLeaderException(status.Leader);
        if (status.Configuration.IsMember(member.Id))
        {
            NodeMember? known = _addresses.GetValueOrDefault(member.Id);
            if (status.Configuration.IsLearner(member.Id) && known is not null &&
                known.PeerAddress == member.PeerAddress && known.ClientAddress == member.ClientAddress)
            {
                return Membership;
            }
            throw new MembershipChangeRefusedException($"node {member.Id} is already a {(status.Configuration.IsVoter(member.Id) ? "voter" : "learner")}" +
                (known is null ? "" : $" at {known.PeerAddress} (client {known.ClientAddress})") + $"; {status.Configuration}");
        }
        if (_addresses.Values.FirstOrDefault(m => m.Id != member.Id && status.Configuration.IsMember(m.Id) &&
                (m.PeerAddress == member.PeerAddress || m.ClientAddress == member.ClientAddress)) is { } clash)
        {
            throw new MembershipChangeRefusedException($"member {clash.Id} already uses {clash.PeerAddress} / {clash.ClientAddress}");
        }
        await ReplicateAddressesAsync([.. _addresses.Values.Where(m => m.Id != member.Id), member], cancellationToken).ConfigureAwait(false);
        return await ChangeConfigurationAsync(raft => raft.AddLearner(member.Id), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Promotes learner <paramref name="id"/> to voter once it is within <see cref="NodeOptions.MaxPromotionLagEntries"/> of the leader.</summary>
    public Task<ClusterMembership> PromoteLearnerAsync(ulong id, CancellationToken cancellationToken) =>
        ChangeConfigurationAsync(raft => raft.PromoteLearner(id), cancellationToken);

    /// <summary>
    /// Removes voter or learner <paramref name="id"/>. When <paramref name="id"/> is this leader, the change commits
    /// first (without counting this node) and the node then steps down (thesis 4.2.2); the call completes on commit.
    /// </summary>
    public Task<ClusterMembership> RemoveMemberAsync(ulong id, CancellationToken cancellationToken) =>
        ChangeConfigurationAsync(raft => raft.RemoveMember(id), cancellationToken);

    /// <summary>
    /// Moves leadership to voter <paramref name="target"/> (thesis 3.10) and completes once this node sees the target
    /// lead. Proposals are refused meanwhile, naming the target. Fails with <see cref="UnavailableException"/> if the
    /// transfer is abandoned (the target did not win within an election timeout) or another node took over.
    /// </summary>
    public async Task<ClusterMembership> TransferLeadershipAsync(ulong target, CancellationToken cancellationToken)
    {
        RaftStatus status = _status;
        if (status.Leader == target && target != 0) return Membership;
        if (status.Role != RaftRole.Leader) throw new NotLeaderException(status.Leader);
        var done = new TaskCompletionSource<ulong>(_completion);
        Post(new Input.Transfer(target, done));
        await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return Membership;
    }

    /// <summary>
    /// Addresses learned outside the log: a joining node is told every member's addresses by the node that added it,
    /// before its own log holds the address book, so that it can answer the leader at once.
    /// </summary>
    public void LearnAddresses(IEnumerable<NodeMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        Post(new Input.LearnAddresses([.. members]));
    }

    public string? ClientAddressOf(ulong nodeId)
    {
        string? address = _addresses.GetValueOrDefault(nodeId)?.ClientAddress;
        return string.IsNullOrEmpty(address) ? null : address;
    }

    private async Task<ClusterMembership> ChangeConfigurationAsync(Func<RaftNode, ProposeResult> change, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            var done = new TaskCompletionSource<ClusterConfiguration>(_completion);
            Post(new Input.ChangeConfiguration(change, done));
            try
            {
                ClusterConfiguration committed = await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                // Built from the committed configuration itself: the status snapshot may be a loop iteration behind.
                RaftStatus status = _status;
                return Describe(status with
                {
                    Configuration = committed,
                    ConfigurationPending = false,
                    Leader = committed.IsVoter(status.Leader) ? status.Leader : 0,
                });
            }
            catch (TransientRefusalException) when (!cancellationToken.IsCancellationRequested)
            {
                // An earlier change or this leader's first entry is still committing: about a round trip.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5 * _options.TickIntervalMs * (attempt + 1), _options.ElectionTimeoutMs)), _time, cancellationToken)
                    .ConfigureAwait(false);
            }
        }
    }

    /// <summary>Writes the address book through the log, in a session of its own (writes need one).</summary>
    private async Task ReplicateAddressesAsync(IReadOnlyList<NodeMember> members, CancellationToken cancellationToken)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        KvReply session = Decode(await ProposeAsync(KvCommand.RegisterSession(now).Encode(), cancellationToken).ConfigureAwait(false));
        if (!session.Succeeded) throw new UnavailableException($"could not register a session for the address book: {session.Status}", mayHaveBeenApplied: false);
        KvReply put = Decode(await ProposeAsync(
            KvCommand.Put(session.SessionId, 1, now, MemberAddressBook.KeyBytes, MemberAddressBook.Encode(members)).Encode(), cancellationToken).ConfigureAwait(false));
        if (!put.Succeeded) throw new UnavailableException($"could not write the address book: {put.Status}", mayHaveBeenApplied: false);
        // This leader starts replicating to the new node as soon as it appends the configuration entry: know its address now.
        LearnAddresses(members);

        static KvReply Decode(ReadOnlyMemory<byte> bytes) =>
            KvReply.TryDecode(bytes, out KvReply? reply) ? reply : throw new InvalidOperationException("the state machine returned an undecodable reply");
    }

    // ---- on the driver thread ---------------------------------------------------------------------------------------

    private void HandleChangeConfiguration(Input.ChangeConfiguration input)
    {
        if (_raft.Role != RaftRole.Leader)
        {
            input.Done.TrySetException(new NotLeaderException(_raft.Leader));
            return;
        }
        if (_raft.LeadershipTransferTarget is not 0 and var target)
        {
            input.Done.TrySetException(new UnavailableException($"leadership is being transferred to node {target}; retry there", mayHaveBeenApplied: false, leaderHint: target));
            return;
        }
        // The core decides (and refuses a change while an earlier one or this term's first entry is uncommitted,
        // thesis 4.1 and Ongaro's 2015 correction); such a refusal is one a short wait cures.
        ProposeResult result = input.Change(_raft);
        if (result.Outcome == ProposeOutcome.Dropped && (_raft.HasUncommittedConfiguration || !_raft.HasCommittedInCurrentTerm))
        {
            input.Done.TrySetException(new TransientRefusalException());
            return;
        }
        switch (result.Outcome)
        {
            case ProposeOutcome.Accepted:
                ClusterConfiguration next = _raft.Configuration;
                var applied = new TaskCompletionSource<ReadOnlyMemory<byte>>(_completion);
                Track(result, applied);
                applied.Task.ContinueWith(t =>
                {
                    if (t.IsCompletedSuccessfully) input.Done.TrySetResult(next);
                    else input.Done.TrySetException(t.Exception!.InnerException!);
                }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                break;
            case ProposeOutcome.NotLeader:
                input.Done.TrySetException(new NotLeaderException(result.LeaderHint));
                break;
            case ProposeOutcome.TransferringLeadership:
                input.Done.TrySetException(TransferInProgress(result.LeaderHint));
                break;
            default:
                input.Done.TrySetException(new MembershipChangeRefusedException(result.Reason ?? "refused"));
                break;
        }
    }

    private void HandleTransfer(Input.Transfer input)
    {
        TransferLeadershipResult result = _raft.TransferLeadership(input.Target);
        switch (result.Outcome)
        {
            case TransferLeadershipOutcome.Started:
                _transferWaiters.Add((input.Target, input.Done));
                break;
            case TransferLeadershipOutcome.NotLeader when result.LeaderHint == input.Target:
                input.Done.TrySetResult(input.Target);
                break;
            case TransferLeadershipOutcome.NotLeader:
                input.Done.TrySetException(new NotLeaderException(result.LeaderHint));
                break;
            default:
                input.Done.TrySetException(new MembershipChangeRefusedException(result.Reason ?? "refused"));
                break;
        }
    }

    /// <summary>After every Ready: a transfer ends when the target leads, when another node does, or when the core gave up.</summary>
    private void MaybeFinishTransfers()
    {
        if (_transferWaiters.Count == 0) return;
        for (int i = _transferWaiters.Count - 1; i >= 0; i--)
        {
            (ulong target, TaskCompletionSource<ulong> done) = _transferWaiters[i];
            if (_raft.Leader == target)
            {
                done.TrySetResult(target);
            }
            else if (_raft.Role == RaftRole.Leader && _raft.LeadershipTransferTarget != target)
            {
                done.TrySetException(new UnavailableException(
                    $"node {target} did not take over within an election timeout; node {_options.NodeId} still leads; retry", mayHaveBeenApplied: false, leaderHint: _options.NodeId));
            }
            else if (_raft.Leader != 0 && _raft.Role != RaftRole.Leader)
            {
                done.TrySetException(new UnavailableException(
                    $"node {_raft.Leader} took over instead of node {target}; retry", mayHaveBeenApplied: false, leaderHint: _raft.Leader));
            }
            else
            {
                continue;
            }
            _transferWaiters.RemoveAt(i);
        }
    }

    private static UnavailableException TransferInProgress(ulong target) =>
        new($"leadership is being transferred to node {target}; retry there", mayHaveBeenApplied: false, leaderHint: target);

    /// <summary>
    /// Merges the replicated address book (if the state machine holds one) over the static members, and tells the
    /// mesh about every peer whose address is new or changed. Runs at start, after a snapshot install and whenever a
    /// configuration entry is applied: the book is written before the entry that adds a node, so it is here by then.
    /// </summary>
    private void RefreshAddresses(IEnumerable<NodeMember>? learned = null)
    {
        IEnumerable<NodeMember> book = _stateMachine.Get(MemberAddressBook.KeyBytes) is { } entry ? MemberAddressBook.Decode(entry.Value.Span) : [];
        var merged = new Dictionary<ulong, NodeMember>(_addresses);
        bool changed = false;
        foreach (NodeMember member in book.Concat(learned ?? []))
        {
            if (member.Id == _options.NodeId) continue; // this node's own addresses come from its options
            if (merged.TryGetValue(member.Id, out NodeMember? known) && known == member) continue;
            merged[member.Id] = member;
            changed = true;
            _transport?.AddPeer(member.Id, member.PeerAddress);
        }
        if (changed) _addresses = merged;
    }

    /// <summary>A refusal that a short wait cures; <see cref="ChangeConfigurationAsync"/> retries it.</summary>
    private sealed class TransientRefusalException() : Exception("an earlier configuration change (or this leader's first entry) is not committed yet");
}
