namespace RaftKv.Raft;

public sealed partial class RaftNode
{
    // Votes received in the current (pre-)campaign: voter -> granted. Sorted so that tallies are deterministic.
    private readonly SortedDictionary<ulong, bool> _votes = [];

    private void TickElection()
    {
        _electionElapsedTicks++;
        if (MayCampaign && _electionElapsedTicks >= _randomizedElectionTimeoutTicks)
        {
            Campaign(_options.PreVote);
        }
    }

    /// <summary>Starts a PreVote round (Raft thesis 9.6) or a real election (thesis 3.4).</summary>
    private void Campaign(bool preVote, bool leadershipTransfer = false)
    {
        _votes.Clear();
        ResetElectionTimer();
        Leader = 0;
        ulong campaignTerm;
        if (preVote)
        {
            // A pre-candidate keeps its term and vote: a node cut off from the majority cannot inflate its term and
            // later force a healthy leader to step down.
            Role = RaftRole.PreCandidate;
            campaignTerm = Term + 1;
        }
        else
        {
            Role = RaftRole.Candidate;
            Term++;
            Vote = Id;
            campaignTerm = Term;
        }
        _votes[Id] = true;
        if (TallyVotes() == VoteResult.Won)
        {
            WinCampaign(preVote);
            return;
        }
        MessageType type = preVote ? MessageType.PreVote : MessageType.RequestVote;
        foreach (ulong voter in Configuration.Voters)
        {
            if (voter == Id) continue;
            Send(new Message
            {
                Type = type, From = Id, To = voter, Term = campaignTerm, LogIndex = _log.LastIndex, LogTerm = _log.LastTerm,
                LeadershipTransfer = leadershipTransfer,
            });
        }
    }

    private void WinCampaign(bool preVote)
    {
        if (preVote) Campaign(preVote: false); else BecomeLeader();
    }

    private void HandleVoteRequest(Message request)
    {
        bool preVote = request.Type == MessageType.PreVote;
        // Raft thesis 3.4: one vote per term, first come first served; re-granting to the same candidate is safe.
        // A PreVote for a later term promises nothing, so it may be granted regardless of our vote.
        bool canVote = Vote == request.From || (Vote == 0 && Leader == 0) || (preVote && request.Term > Term);
        bool upToDate = _options.InjectedBug == InjectedBug.VoteWithoutUpToDateCheck ||
                        _log.IsUpToDate(request.LogIndex, request.LogTerm);
        // Raft thesis 4.1: vote without consulting our own configuration, which may lag the candidate's; the
        // CheckQuorum lease in HandleTerm is what keeps removed servers from disrupting the cluster.
        bool grant = canVote && upToDate;
        if (grant && !preVote)
        {
            Vote = request.From;
            _electionElapsedTicks = 0;
        }
        _messagesAfterPersist.Add(new Message
        {
            Type = preVote ? MessageType.PreVoteResponse : MessageType.RequestVoteResponse,
            From = Id,
            To = request.From,
            // A granted PreVote echoes the proposed term so the pre-candidate can match it to its round; a
            // rejection carries our term so that a candidate behind us catches up.
            Term = grant ? request.Term : Term,
            Reject = !grant,
        });
    }

    private void HandleVoteResponse(Message response)
    {
        bool expected = response.Type == MessageType.PreVoteResponse
            ? Role == RaftRole.PreCandidate && response.Term == (response.Reject ? Term : Term + 1)
            : Role == RaftRole.Candidate && response.Term == Term;
        if (!expected || !Configuration.IsVoter(response.From)) return;

        _votes.TryAdd(response.From, !response.Reject);
        switch (TallyVotes())
        {
            case VoteResult.Won:
                WinCampaign(preVote: Role == RaftRole.PreCandidate);
                break;
            case VoteResult.Lost:
                BecomeFollower(Term, leader: 0);
                break;
        }
    }

    private VoteResult TallyVotes() => Configuration.Quorum.Tally(_voteOf);

    private void BecomeLeader()
    {
        Invariant.Check(Role == RaftRole.Candidate && Vote == Id, "only a candidate that voted for itself becomes leader");
        Role = RaftRole.Leader;
        Leader = Id;
        _votes.Clear();
        _heartbeatElapsedTicks = 0;
        _electionElapsedTicks = 0;
        _readRound = 0;
        _readRoundRequested = false;
        _committedInCurrentTerm = false;
        AbortTransfer();
        ResetProgress();
        // Raft thesis 3.6.2 and 6.4: a no-op entry lets the new leader commit entries of earlier terms, and tells
        // it which entries are committed before it serves ReadIndex.
        AppendAsLeader(EntryType.NoOp, ReadOnlyMemory<byte>.Empty);
    }
}
