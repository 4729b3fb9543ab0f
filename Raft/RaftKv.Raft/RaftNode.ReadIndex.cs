namespace RaftKv.Raft;

public sealed partial class RaftNode
{
    /// <summary>A read waiting for a heartbeat round to confirm leadership. RequestedBy 0 means this node's own client.</summary>
    private readonly record struct PendingRead(ulong RequestId, ulong RequestedBy, ulong Index, ulong Round);

    // Raft thesis 6.4. Invariant: rounds in _pendingReads never decrease along the list, and every round is
    // greater than the round of any heartbeat sent before that read was registered.
    private readonly List<PendingRead> _pendingReads = [];
    private readonly List<(ulong RequestId, ulong RequestedBy)> _readsWaitingForTermCommit = [];
    private ulong _readRound;
    private bool _readRoundRequested;

    /// <summary>
    /// Asks for a linearizable read point (Raft thesis 6.4). On the leader the current commit index is recorded
    /// and released as a <see cref="ReadState"/> only after a heartbeat round sent after this call is acknowledged
    /// by a majority; all reads registered before the next <see cref="GetReady"/> share one round. A follower
    /// forwards the request to its leader. Reads never add log entries. If leadership is lost first, the read
    /// fails (ReadState.Succeeded is false) rather than returning a possibly stale index.
    /// </summary>
    public ReadIndexOutcome ReadIndex(ulong requestId)
    {
        if (Role == RaftRole.Leader)
        {
            RegisterRead(requestId, requestedBy: 0);
            return ReadIndexOutcome.Pending;
        }
        if (Leader == 0) return ReadIndexOutcome.NoLeader;
        Send(new Message { Type = MessageType.ReadIndex, From = Id, To = Leader, Term = Term, ReadRequestId = requestId });
        return ReadIndexOutcome.Pending;
    }

    private void HandleReadIndexRequest(Message request)
    {
        if (Role != RaftRole.Leader)
        {
            Send(new Message { Type = MessageType.ReadIndexResponse, From = Id, To = request.From, Term = Term, Reject = true, ReadRequestId = request.ReadRequestId });
            return;
        }
        RegisterRead(request.ReadRequestId, request.From);
    }

    private void RegisterRead(ulong requestId, ulong requestedBy)
    {
        if (!_committedInCurrentTerm)
        {
            // Until its no-op commits, a new leader does not know the commit index of earlier terms.
            _readsWaitingForTermCommit.Add((requestId, requestedBy));
            return;
        }
        _pendingReads.Add(new PendingRead(requestId, requestedBy, _log.Committed, _readRound + 1));
        _readRoundRequested = true;
        ReleaseConfirmedReads(); // a single-voter cluster confirms at once
    }

    private void StartReadsWaitingForTermCommit()
    {
        var waiting = _readsWaitingForTermCommit.ToArray();
        _readsWaitingForTermCommit.Clear();
        foreach ((ulong requestId, ulong requestedBy) in waiting) RegisterRead(requestId, requestedBy);
    }

    /// <summary>Called at GetReady: one heartbeat round confirms every read registered since the previous round.</summary>
    private void MaybeStartReadRound()
    {
        if (!_readRoundRequested) return;
        _readRoundRequested = false;
        _readRound++;
        _heartbeatElapsedTicks = 0;
        BroadcastHeartbeat();
    }

    private void ReleaseConfirmedReads()
    {
        if (_pendingReads.Count == 0) return;
        ulong confirmedRound = ConfirmedReadRound();
        int released = 0;
        while (released < _pendingReads.Count && _pendingReads[released].Round <= confirmedRound)
        {
            PendingRead read = _pendingReads[released++];
            CompleteRead(read.RequestId, read.RequestedBy, read.Index, succeeded: true);
        }
        _pendingReads.RemoveRange(0, released);
    }

    /// <summary>
    /// The highest round acknowledged by a quorum of voters. This node acknowledges every round it has sent or is
    /// about to send; the others cannot have acknowledged a round not sent yet, so a quorum of more than one voter
    /// never confirms it early, and a single voter confirms at once.
    /// </summary>
    private ulong ConfirmedReadRound() => Configuration.Quorum.CommittedIndex(_readRoundAcked);

    private void CompleteRead(ulong requestId, ulong requestedBy, ulong index, bool succeeded)
    {
        if (requestedBy == 0)
        {
            _readStates.Add(new ReadState(requestId, index, succeeded));
        }
        else
        {
            Send(new Message
            {
                Type = MessageType.ReadIndexResponse, From = Id, To = requestedBy, Term = Term,
                ReadRequestId = requestId, LogIndex = index, Reject = !succeeded,
            });
        }
    }

    /// <summary>A leader that steps down can no longer confirm anything: every pending read fails.</summary>
    private void FailPendingReads()
    {
        foreach (PendingRead read in _pendingReads) CompleteRead(read.RequestId, read.RequestedBy, 0, succeeded: false);
        foreach ((ulong requestId, ulong requestedBy) in _readsWaitingForTermCommit) CompleteRead(requestId, requestedBy, 0, succeeded: false);
        _pendingReads.Clear();
        _readsWaitingForTermCommit.Clear();
        _readRoundRequested = false;
    }
}
