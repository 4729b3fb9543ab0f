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

    /// <summary>A read this follower forwarded to <see cref="_forwardedTo"/>; it fails if that leadership ends.</summary>
    private readonly record struct ForwardedRead(ulong RequestId, long ForwardedAtTick);

    // Reads forwarded to a leader and not answered yet, oldest first. Invariant: all were forwarded to the leader
    // and term in _forwardedTo; when this node's (Leader, Term) moves on, they all fail at the next GetReady.
    private readonly List<ForwardedRead> _forwardedReads = [];
    private (ulong Leader, ulong Term) _forwardedTo;
    private long _ticks;

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
        MaybeFailForwardedReads();
        _forwardedTo = (Leader, Term);
        _forwardedReads.Add(new ForwardedRead(requestId, _ticks));
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
        if (_options.InjectedBug == InjectedBug.ReadIndexWithoutLeadershipConfirmation)
        {
            CompleteRead(requestId, requestedBy, _log.Committed, succeeded: true);
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

    private void CompleteRead(ulong requestId, ulong requestedBy, ulong index, bool succeeded, ulong leaderHint = 0)
    {
        if (requestedBy == 0)
        {
            _readStates.Add(new ReadState(requestId, index, succeeded, leaderHint));
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

    /// <summary>A leader that steps down can no longer confirm anything: every pending read fails at once.</summary>
    private void FailPendingReads(ulong leaderHint)
    {
        foreach (PendingRead read in _pendingReads) CompleteRead(read.RequestId, read.RequestedBy, 0, succeeded: false, leaderHint);
        foreach ((ulong requestId, ulong requestedBy) in _readsWaitingForTermCommit) CompleteRead(requestId, requestedBy, 0, succeeded: false, leaderHint);
        _pendingReads.Clear();
        _readsWaitingForTermCommit.Clear();
        _readRoundRequested = false;
    }

    /// <summary>The leader's answer to a read this follower forwarded; answers to reads already failed are dropped.</summary>
    private void HandleReadIndexResponse(Message response)
    {
        int position = _forwardedReads.FindIndex(r => r.RequestId == response.ReadRequestId);
        if (position < 0) return;
        _forwardedReads.RemoveAt(position);
        _readStates.Add(new ReadState(response.ReadRequestId, response.LogIndex, !response.Reject, response.Reject ? Leader : 0));
    }

    /// <summary>Whether forwarded reads wait on a leadership this node no longer follows.</summary>
    private bool ForwardedReadsOrphaned => _forwardedReads.Count > 0 && _forwardedTo != (Leader, Term);

    /// <summary>
    /// Fails every forwarded read at once when the leader or term it was forwarded under is gone: its answer may
    /// never come (the leader crashed or was deposed), and the client should retry where the leader is now.
    /// </summary>
    private void MaybeFailForwardedReads()
    {
        if (!ForwardedReadsOrphaned) return;
        foreach (ForwardedRead read in _forwardedReads) _readStates.Add(new ReadState(read.RequestId, 0, Succeeded: false, Leader));
        _forwardedReads.Clear();
    }

    /// <summary>
    /// A forwarded read whose request or answer was lost fails after two election timeouts: a live leader answers
    /// within a heartbeat round, so by then the request is lost, not slow. Keeps the list bounded.
    /// </summary>
    private void TickForwardedReads()
    {
        long expired = _ticks - 2L * _options.ElectionTimeoutTicks;
        int count = 0;
        while (count < _forwardedReads.Count && _forwardedReads[count].ForwardedAtTick <= expired)
        {
            _readStates.Add(new ReadState(_forwardedReads[count].RequestId, 0, Succeeded: false, Leader));
            count++;
        }
        _forwardedReads.RemoveRange(0, count);
    }
}
