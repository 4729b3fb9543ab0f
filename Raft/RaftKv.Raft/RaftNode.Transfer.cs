namespace RaftKv.Raft;

/// <summary>
/// Leadership transfer (Raft thesis 3.10). The leader stops accepting proposals, brings the target's log up to
/// its own last index, then sends it TimeoutNow; the target starts an election at once, without PreVote, and its
/// vote requests carry <see cref="Message.LeadershipTransfer"/> so that voters which still hear from the current
/// leader do not ignore them (the CheckQuorum lease of thesis 4.2.3 exists to stop disruptive servers, and the
/// leader asked for this election). If the target has not taken over within an election timeout, the transfer is
/// abandoned and the leader accepts proposals again.
/// </summary>
/// <remarks>Invariant: <c>_transferTarget != 0</c> only while this node is leader.</remarks>
public sealed partial class RaftNode
{
    private ulong _transferTarget;
    private int _transferElapsedTicks;
    private bool _timeoutNowSent;

    /// <summary>The voter leadership is being transferred to (0: no transfer in progress).</summary>
    public ulong LeadershipTransferTarget => _transferTarget;

    /// <summary>
    /// Starts moving leadership to voter <paramref name="target"/>. Proposals are refused with
    /// <see cref="ProposeOutcome.TransferringLeadership"/> until the transfer ends: when this node steps down (the
    /// target's election reached it) or after an election timeout. Asking again for the same target while it is in
    /// progress is a no-op that reports <see cref="TransferLeadershipOutcome.Started"/>.
    /// </summary>
    public TransferLeadershipResult TransferLeadership(ulong target)
    {
        if (Role != RaftRole.Leader) return new TransferLeadershipResult(TransferLeadershipOutcome.NotLeader, Leader);
        if (target == Id) return new TransferLeadershipResult(TransferLeadershipOutcome.Refused, Id, "this node is already the leader");
        if (!Configuration.IsVoter(target)) return new TransferLeadershipResult(TransferLeadershipOutcome.Refused, Id, $"node {target} is not a voter ({Configuration})");
        if (_transferTarget != 0)
        {
            return _transferTarget == target
                ? new TransferLeadershipResult(TransferLeadershipOutcome.Started, Id)
                : new TransferLeadershipResult(TransferLeadershipOutcome.Refused, Id, $"a transfer to node {_transferTarget} is in progress");
        }
        _transferTarget = target;
        _transferElapsedTicks = 0;
        _timeoutNowSent = false;
        _replicationPending = true;
        MaybeSendTimeoutNow();
        return new TransferLeadershipResult(TransferLeadershipOutcome.Started, Id);
    }

    /// <summary>
    /// Leader only: the voter (other than this node) whose log matches the most of this leader's, the cheapest target
    /// for <see cref="TransferLeadership"/> (a node handing off before it stops); ties go to the lowest id. 0 when
    /// this node is not the leader or there is no other voter.
    /// </summary>
    public ulong MostCaughtUpVoter()
    {
        if (Role != RaftRole.Leader) return 0;
        ulong best = 0, bestMatch = 0;
        foreach (ulong voter in Configuration.Voters.Order())
        {
            if (voter == Id || !_progress.TryGetValue(voter, out Progress? progress)) continue;
            if (best == 0 || progress.Match > bestMatch) (best, bestMatch) = (voter, progress.Match);
        }
        return best;
    }

    /// <summary>Sends TimeoutNow once the target holds everything this leader has (thesis 3.10, step 2).</summary>
    private void MaybeSendTimeoutNow()
    {
        if (_transferTarget == 0 || _timeoutNowSent) return;
        if (!_progress.TryGetValue(_transferTarget, out Progress? progress) || progress.Match != _log.LastIndex) return;
        _timeoutNowSent = true;
        Send(new Message { Type = MessageType.TimeoutNow, From = Id, To = _transferTarget, Term = Term });
    }

    /// <summary>Called every leader tick: a transfer that has not completed within an election timeout is abandoned.</summary>
    private void TickTransfer()
    {
        if (_transferTarget != 0 && ++_transferElapsedTicks >= _options.ElectionTimeoutTicks) AbortTransfer();
    }

    private void AbortTransfer()
    {
        _transferTarget = 0;
        _transferElapsedTicks = 0;
        _timeoutNowSent = false;
    }

    /// <summary>The target's side: the leader says we are caught up, so campaign now (thesis 3.10, step 3).</summary>
    private void HandleTimeoutNow(Message message)
    {
        if (IsVoter && Role != RaftRole.Leader && message.From == Leader) Campaign(preVote: false, leadershipTransfer: true);
    }
}
