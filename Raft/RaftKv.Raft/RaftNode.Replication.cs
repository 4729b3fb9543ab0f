namespace RaftKv.Raft;

public sealed partial class RaftNode
{
    // Leader state: one Progress per member other than this node (Raft thesis 3.5, nextIndex/matchIndex).
    private readonly SortedDictionary<ulong, Progress> _progress = [];

    // Set when new entries or a new commit index should go out at the next GetReady (batching point).
    private bool _replicationPending;
    private bool _commitAdvanced;
    private bool _committedInCurrentTerm;

    /// <summary>
    /// Leader only: each other member's match index (the highest log index known replicated there; thesis 3.5),
    /// in member id order. Empty on any other role. For monitoring (replication lag per follower); allocates.
    /// </summary>
    public IReadOnlyList<KeyValuePair<ulong, ulong>> ReplicationMatches()
    {
        if (Role != RaftRole.Leader) return [];
        var matches = new List<KeyValuePair<ulong, ulong>>(_progress.Count);
        foreach ((ulong member, Progress progress) in _progress) matches.Add(new(member, progress.Match));
        return matches;
    }

    /// <summary>
    /// Proposes a command. Only the leader accepts; the entry is appended at once and replicated at the next
    /// <see cref="GetReady"/>, batched with every other proposal made before it.
    /// </summary>
    public ProposeResult Propose(ReadOnlyMemory<byte> command) => ProposeEntry(EntryType.Command, command);

    private ProposeResult ProposeEntry(EntryType type, ReadOnlyMemory<byte> data)
    {
        if (Role != RaftRole.Leader) return new ProposeResult(ProposeOutcome.NotLeader, 0, 0, Leader);
        if (_transferTarget != 0)
        {
            return new ProposeResult(ProposeOutcome.TransferringLeadership, 0, 0, _transferTarget, "leadership is being transferred");
        }
        if (_log.LastIndex - _log.Committed >= (ulong)_options.MaxUncommittedEntries)
        {
            return new ProposeResult(ProposeOutcome.Dropped, 0, 0, Id, "too many uncommitted entries");
        }
        LogEntry entry = AppendAsLeader(type, data);
        return new ProposeResult(ProposeOutcome.Accepted, entry.Index, entry.Term, Id);
    }

    private LogEntry AppendAsLeader(EntryType type, ReadOnlyMemory<byte> data)
    {
        var entry = new LogEntry(_log.LastIndex + 1, Term, type, data);
        _log.Append(entry);
        if (type == EntryType.Configuration) OnConfigurationAppended(entry);
        _replicationPending = true;
        return entry;
    }

    private void ResetProgress()
    {
        _progress.Clear();
        SyncProgressWithConfiguration();
    }

    private void TickLeader()
    {
        _heartbeatElapsedTicks++;
        _electionElapsedTicks++;
        TickTransfer();
        foreach (Progress progress in _progress.Values)
        {
            if (progress.State == ProgressState.Snapshot && ++progress.SnapshotTicks > 2 * _options.ElectionTimeoutTicks)
            {
                // The snapshot or its answer was lost: probe again, which re-sends the snapshot if still needed.
                progress.BecomeProbe(progress.Match + 1);
            }
        }
        if (_electionElapsedTicks >= _options.ElectionTimeoutTicks)
        {
            _electionElapsedTicks = 0;
            if (_options.CheckQuorum && !QuorumRecentlyActive())
            {
                // Raft thesis 6.2: a leader cut off from a majority steps down so clients can find the real one,
                // and its pending reads fail instead of waiting forever.
                BecomeFollower(Term, leader: 0);
                return;
            }
        }
        if (_heartbeatElapsedTicks >= _options.HeartbeatIntervalTicks)
        {
            _heartbeatElapsedTicks = 0;
            BroadcastHeartbeat();
        }
    }

    /// <summary>Raft thesis 6.2: whether a quorum was heard from since the last check; starts the next period.</summary>
    private bool QuorumRecentlyActive()
    {
        bool active = Configuration.Quorum.Tally(_recentlyActive) == VoteResult.Won;
        foreach (Progress progress in _progress.Values) progress.RecentActive = false;
        return active;
    }

    private void BroadcastHeartbeat()
    {
        foreach ((ulong member, Progress progress) in _progress)
        {
            Send(new Message
            {
                Type = MessageType.Heartbeat,
                From = Id,
                To = member,
                Term = Term,
                // Capped at the follower's match: it may not hold our entries beyond that yet.
                Commit = Math.Min(progress.Match, _log.Committed),
                ReadRound = _readRound,
            });
        }
    }

    /// <summary>Sends every follower what it is missing, as batched and pipelined as its progress state allows.</summary>
    private void FlushReplication()
    {
        foreach ((ulong member, Progress progress) in _progress)
        {
            bool sendIfEmpty = _commitAdvanced;
            while (MaybeSendAppend(member, progress, sendIfEmpty))
            {
                sendIfEmpty = false;
            }
        }
        _replicationPending = false;
        _commitAdvanced = false;
    }

    /// <summary>Sends one AppendEntries (or an InstallSnapshot); true if more entries could follow right away.</summary>
    private bool MaybeSendAppend(ulong member, Progress progress, bool sendIfEmpty)
    {
        if (progress.IsPaused) return false;
        ulong previousIndex = progress.Next - 1;
        ulong? previousTerm = _log.TermAt(previousIndex);
        if (previousTerm is null)
        {
            // Raft thesis 5.3: the entries this follower needs are compacted; send the snapshot instead.
            Send(new Message { Type = MessageType.InstallSnapshot, From = Id, To = member, Term = Term, Snapshot = _log.Snapshot });
            progress.BecomeSnapshot(_log.SnapshotIndex);
            return false;
        }
        List<LogEntry> entries = _log.Slice(progress.Next, _log.LastIndex, _options.MaxAppendBytes);
        if (entries.Count == 0 && !sendIfEmpty) return false;
        Send(new Message
        {
            Type = MessageType.AppendEntries,
            From = Id,
            To = member,
            Term = Term,
            LogIndex = previousIndex,
            LogTerm = previousTerm.Value,
            Entries = entries,
            Commit = _log.Committed,
        });
        progress.SentEntries(entries.Count > 0 ? entries[^1].Index : previousIndex, entries.Count);
        return entries.Count > 0 && progress.State == ProgressState.Replicate;
    }

    private void HandleAppendEntriesResponse(Message response)
    {
        if (!_progress.TryGetValue(response.From, out Progress? progress)) return;
        progress.RecentActive = true;

        if (response.Reject)
        {
            HandleAppendRejection(response, progress);
            return;
        }

        bool wasPaused = progress.IsPaused;
        if (!progress.MaybeUpdate(response.LogIndex))
        {
            return;
        }
        switch (progress.State)
        {
            case ProgressState.Probe:
                progress.BecomeReplicate();
                break;
            case ProgressState.Snapshot when progress.Match >= progress.PendingSnapshotIndex:
                progress.BecomeProbe(progress.Match + 1);
                progress.BecomeReplicate();
                break;
            case ProgressState.Replicate:
                progress.FreeInflightThrough(response.LogIndex);
                break;
        }
        MaybeCommit();
        if (Role != RaftRole.Leader) return; // the commit removed us (thesis 4.2.2)
        if (response.From == _transferTarget) MaybeSendTimeoutNow();
        if (wasPaused || progress.Next <= _log.LastIndex) _replicationPending = true;
    }

    /// <summary>
    /// Fast log backtracking: the follower reports the term at the rejected index and the first index it holds
    /// of that term, so the leader skips a whole term per round trip instead of one entry.
    /// </summary>
    private void HandleAppendRejection(Message response, Progress progress)
    {
        bool stale = progress.State == ProgressState.Replicate
            ? response.LogIndex <= progress.Match
            : response.LogIndex != progress.Next - 1;
        if (stale) return;

        ulong next = response.ConflictIndex;
        if (response.ConflictTerm != 0 && _log.LastIndexOfTerm(response.ConflictTerm, response.LogIndex) is { } lastOfTerm)
        {
            next = lastOfTerm + 1;
        }
        next = Math.Max(Math.Min(next, response.LogIndex), progress.Match + 1);
        progress.BecomeProbe(next);
        _replicationPending = true;
    }

    private void HandleHeartbeatResponse(Message response)
    {
        if (!_progress.TryGetValue(response.From, out Progress? progress)) return;
        progress.RecentActive = true;
        progress.ProbeSent = false;
        if (progress.State == ProgressState.Replicate && progress.IsPaused) progress.FreeFirstInflight();
        if (response.ReadRound > progress.ReadRoundAcked)
        {
            progress.ReadRoundAcked = response.ReadRound;
            ReleaseConfirmedReads();
        }
        if (progress.Match < _log.LastIndex && !progress.IsPaused)
        {
            // The follower is behind and nothing is in flight to fix it (e.g. the last append was lost): an
            // append, even empty, makes it reveal where its log diverges.
            MaybeSendAppend(response.From, progress, sendIfEmpty: true);
        }
    }

    /// <summary>Raft thesis 3.6.2: commit the highest index stored on a quorum, but only if it is from our term.</summary>
    private void MaybeCommit()
    {
        ulong quorumIndex = QuorumMatchIndex();
        if (quorumIndex <= _log.Committed) return;
        bool currentTerm = _log.TermAt(quorumIndex) == Term;
        if (!currentTerm && _options.InjectedBug != InjectedBug.CommitOldTermEntriesByCount) return;
        _log.CommitTo(quorumIndex);
        _commitAdvanced = true;
        _replicationPending = true;
        if (currentTerm && !_committedInCurrentTerm)
        {
            _committedInCurrentTerm = true;
            StartReadsWaitingForTermCommit();
        }
        if (!IsVoter && _configurationHistory[^1].Index <= _log.Committed)
        {
            // Raft thesis 4.2.2: a leader removed from the configuration steps down once the removal commits.
            BecomeFollower(Term, leader: 0);
        }
    }

    /// <summary>The largest index that a quorum of voters holds durably (this node counts its stable index).</summary>
    private ulong QuorumMatchIndex() => Configuration.Quorum.CommittedIndex(_durableMatch);

    private void HandleAppendEntries(Message request)
    {
        if (request.LogIndex < _log.Committed)
        {
            // Everything through our commit index matches every leader's log; say so and let the leader resume there.
            Send(AppendResponse(request.From, match: _log.Committed));
            return;
        }
        if (!_log.MatchTerm(request.LogIndex, request.LogTerm))
        {
            ulong conflictTerm = 0, conflictIndex = _log.LastIndex + 1;
            if (request.LogIndex <= _log.LastIndex)
            {
                conflictTerm = _log.TermAt(request.LogIndex)!.Value;
                conflictIndex = _log.FirstIndexOfTermAt(request.LogIndex);
            }
            Send(new Message
            {
                Type = MessageType.AppendEntriesResponse, From = Id, To = request.From, Term = Term, Reject = true,
                LogIndex = request.LogIndex, ConflictTerm = conflictTerm, ConflictIndex = conflictIndex,
            });
            return;
        }

        // Raft thesis 3.5: skip entries we already hold, cut our log at the first conflict, append the rest. An
        // entry that matches is never removed: a delayed, shorter AppendEntries must not undo a longer one.
        foreach (LogEntry entry in request.Entries)
        {
            ulong? existing = _log.TermAt(entry.Index);
            if (existing == entry.Term) continue;
            if (existing is not null) TruncateLogFrom(entry.Index);
            AppendAsFollower(entry);
        }
        ulong lastNew = request.LogIndex + (ulong)request.Entries.Count;
        _log.CommitTo(Math.Min(request.Commit, lastNew));
        Send(AppendResponse(request.From, match: lastNew));
    }

    private void HandleHeartbeat(Message heartbeat)
    {
        _log.CommitTo(heartbeat.Commit);
        Send(new Message { Type = MessageType.HeartbeatResponse, From = Id, To = heartbeat.From, Term = Term, ReadRound = heartbeat.ReadRound });
    }

    private Message AppendResponse(ulong to, ulong match) =>
        new() { Type = MessageType.AppendEntriesResponse, From = Id, To = to, Term = Term, LogIndex = match };

    private void AppendAsFollower(LogEntry entry)
    {
        _log.Append(entry);
        if (entry.Type == EntryType.Configuration) OnConfigurationAppended(entry);
    }

    private void TruncateLogFrom(ulong index)
    {
        _log.TruncateFrom(index);
        OnLogTruncated(index);
    }
}
