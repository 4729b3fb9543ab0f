namespace RaftKv.Raft;

/// <summary>
/// One Raft replica as a pure, deterministic state machine (etcd-io/raft's design). It performs no I/O, reads no
/// clock, starts no threads and draws randomness only from a seeded PRNG. The driver feeds it inputs
/// (<see cref="Tick"/>, <see cref="Step"/>, <see cref="Propose"/>, <see cref="ReadIndex"/>), takes a
/// <see cref="Ready"/> with <see cref="GetReady"/>, carries it out as that type documents, then calls
/// <see cref="Advance"/>. Not thread-safe: one thread drives a node.
/// </summary>
public sealed partial class RaftNode
{
    private readonly RaftOptions _options;
    private readonly DeterministicRandom _random;
    private readonly RaftLog _log;

    // Outputs accumulated since the last GetReady.
    private readonly List<Message> _messages = [];
    private readonly List<Message> _messagesAfterPersist = [];
    private readonly List<ReadState> _readStates = [];
    private SnapshotMetadata? _receivedSnapshot;
    private LeadershipLoss? _leadershipLoss;

    private HardState _persistedHardState;
    private SoftState _reportedSoftState;
    private Ready? _outstandingReady;

    // What each voter contributes to a quorum count (Quorum.cs does the counting). Cached so counting allocates
    // no closures on the commit path.
    private readonly Func<ulong, ulong> _durableMatch;
    private readonly Func<ulong, ulong> _readRoundAcked;
    private readonly Func<ulong, bool?> _voteOf;
    private readonly Func<ulong, bool?> _recentlyActive;

    // Timers, in ticks (Raft thesis 3.4).
    private int _electionElapsedTicks;
    private int _heartbeatElapsedTicks;
    private int _randomizedElectionTimeoutTicks;

    public RaftNode(RaftOptions options, PersistentState state)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(state);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("Invalid Raft options: " + string.Join(" ", errors), nameof(options));
        SnapshotMetadata snapshot = state.Snapshot ?? throw new ArgumentException(
            "The persistent state has no snapshot metadata: a new cluster starts from PersistentState.ForNewCluster.", nameof(state));

        _options = options;
        _durableMatch = voter => voter == Id ? _log!.Stable : _progress.TryGetValue(voter, out Progress? p) ? p.Match : 0;
        _readRoundAcked = voter => voter == Id
            ? (_readRoundRequested ? _readRound + 1 : _readRound)
            : _progress.TryGetValue(voter, out Progress? p) ? p.ReadRoundAcked : 0;
        _voteOf = voter => _votes.TryGetValue(voter, out bool granted) ? granted : null;
        _recentlyActive = voter => voter == Id || (_progress.TryGetValue(voter, out Progress? p) && p.RecentActive);
        _random = new DeterministicRandom(options.RandomSeed ^ (options.NodeId * 0x9E3779B97F4A7C15UL));
        _log = new RaftLog(snapshot);
        _log.LoadRecovered(state.Entries, state.HardState.Commit, state.AppliedIndex);
        RebuildConfigurationHistory();

        Term = state.HardState.Term;
        Vote = state.HardState.Vote;
        _persistedHardState = CurrentHardState;
        BecomeFollower(Term, leader: 0);
        _reportedSoftState = CurrentSoftState;
    }

    public ulong Id => _options.NodeId;

    /// <summary>The options this node was created with.</summary>
    public RaftOptions Options => _options;

    /// <summary>The current term (Raft thesis 3.3). Persisted before any message that depends on it.</summary>
    public ulong Term { get; private set; }

    /// <summary>Whom this node voted for in <see cref="Term"/> (0: nobody). Persisted before the vote is granted.</summary>
    public ulong Vote { get; private set; }

    public RaftRole Role { get; private set; }

    /// <summary>The leader of <see cref="Term"/> as far as this node knows (0: unknown).</summary>
    public ulong Leader { get; private set; }

    public ClusterConfiguration Configuration => _configurationHistory[^1].Configuration;

    public RaftStatus Status => new(
        Id, Role, Term, Leader, Vote, _log.Committed, _log.Applied, _log.LastIndex, _log.SnapshotIndex, Configuration)
    {
        LeadershipTransferTarget = _transferTarget,
        ConfigurationPending = HasUncommittedConfiguration,
    };

    internal RaftLog Log => _log;

    /// <summary>Approximate bytes of log entries not yet compacted into a snapshot; drives the snapshot policy.</summary>
    public long UncompactedLogBytes => _log.SizeBytes;

    private HardState CurrentHardState => new(Term, Vote, _log.Committed);

    private SoftState CurrentSoftState => new(Role, Leader, Term);

    private bool IsVoter => Configuration.IsVoter(Id);

    /// <summary>Advances logical time by one tick: election timeouts, heartbeats and CheckQuorum are counted in ticks.</summary>
    public void Tick()
    {
        _ticks++;
        TickForwardedReads();
        if (Role == RaftRole.Leader)
        {
            TickLeader();
        }
        else
        {
            TickElection();
        }
    }

    /// <summary>
    /// How many <see cref="Tick"/> calls from now the earliest timer falls due: the Tick that sends a leader's
    /// heartbeat, runs its CheckQuorum round or abandons a leadership transfer, starts a voter's campaign, or fails a
    /// forwarded read. Every Tick before that one only advances counters and internal state: it adds nothing to the next
    /// <see cref="Ready"/>, makes <see cref="HasReady"/> no truer and changes no role, term, leader or transfer. A driver may
    /// therefore sleep that many tick intervals (tickless idling), provided it calls <see cref="Tick"/> once for every
    /// interval that elapsed before it steps the next input, so the counters (and the CheckQuorum lease that
    /// <see cref="Step"/> consults) are exactly as if it had ticked all along. Inputs (Step, Propose, ReadIndex, ...)
    /// can move the deadline either way, so ask again after each. At least 1; <see cref="int.MaxValue"/> when no timer
    /// is running (a node that may not campaign, with no forwarded reads).
    /// </summary>
    public int TicksUntilNextTimer()
    {
        long due = long.MaxValue;
        if (_forwardedReads.Count > 0)
        {
            // TickForwardedReads fails the oldest once _ticks reaches ForwardedAtTick + 2 * ElectionTimeoutTicks.
            due = Math.Min(due, _forwardedReads[0].ForwardedAtTick + 2L * _options.ElectionTimeoutTicks - _ticks);
        }
        if (Role == RaftRole.Leader)
        {
            due = Math.Min(due, _options.HeartbeatIntervalTicks - _heartbeatElapsedTicks);
            due = Math.Min(due, _options.ElectionTimeoutTicks - _electionElapsedTicks);
            if (_transferTarget != 0) due = Math.Min(due, _options.ElectionTimeoutTicks - _transferElapsedTicks);
            // Not a deadline: a follower stuck in the Snapshot state falls back to probing after 2 * ElectionTimeoutTicks,
            // but the probe goes out only with the next heartbeat or proposal, so that tick shows nothing by itself.
        }
        else if (MayCampaign)
        {
            // TickElection campaigns exactly when MayCampaign: also a node whose own removal is not committed yet.
            due = Math.Min(due, _randomizedElectionTimeoutTicks - _electionElapsedTicks);
        }
        return (int)Math.Clamp(due, 1, int.MaxValue);
    }

    /// <summary>Handles one message from a peer. Messages for another node or from a non-member are ignored.</summary>
    public void Step(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.To != Id || message.From == Id || message.From == 0) return;
        if (!HandleTerm(message)) return;

        switch (message.Type)
        {
            case MessageType.PreVote:
            case MessageType.RequestVote:
                HandleVoteRequest(message);
                break;
            case MessageType.PreVoteResponse:
            case MessageType.RequestVoteResponse:
                HandleVoteResponse(message);
                break;
            case MessageType.AppendEntries:
                AcceptLeader(message.From);
                HandleAppendEntries(message);
                break;
            case MessageType.Heartbeat:
                AcceptLeader(message.From);
                HandleHeartbeat(message);
                break;
            case MessageType.InstallSnapshot:
                AcceptLeader(message.From);
                HandleInstallSnapshot(message);
                break;
            case MessageType.AppendEntriesResponse:
                if (Role == RaftRole.Leader) HandleAppendEntriesResponse(message);
                break;
            case MessageType.HeartbeatResponse:
                if (Role == RaftRole.Leader) HandleHeartbeatResponse(message);
                break;
            case MessageType.ReadIndex:
                HandleReadIndexRequest(message);
                break;
            case MessageType.ReadIndexResponse:
                HandleReadIndexResponse(message);
                break;
            case MessageType.TimeoutNow:
                HandleTimeoutNow(message);
                break;
        }
    }

    /// <summary>
    /// Term rules common to every message (Raft thesis 3.3, 9.6, 6.2). Returns false when the message is
    /// dropped here.
    /// </summary>
    private bool HandleTerm(Message message)
    {
        if (message.Term > Term)
        {
            bool isVoteRequest = message.Type is MessageType.RequestVote or MessageType.PreVote;
            if (isVoteRequest && _options.CheckQuorum && Leader != 0 && _electionElapsedTicks < _options.ElectionTimeoutTicks &&
                !message.LeadershipTransfer)
            {
                // Raft thesis 4.2.3: while we believe a leader is alive, a vote request is from a disruptive
                // server (a removed member, or one returning from a partition) and is ignored entirely - unless the
                // leader itself asked for this election by TimeoutNow (thesis 3.10).
                return false;
            }
            if (message.Type == MessageType.PreVote || (message.Type == MessageType.PreVoteResponse && !message.Reject))
            {
                // A PreVote carries the term the sender would campaign at; neither side adopts it (thesis 9.6).
                return true;
            }
            bool fromLeader = message.Type is MessageType.AppendEntries or MessageType.Heartbeat or MessageType.InstallSnapshot;
            BecomeFollower(message.Term, fromLeader ? message.From : 0);
            return true;
        }

        if (message.Term < Term)
        {
            if (message.Type is MessageType.AppendEntries or MessageType.Heartbeat or MessageType.InstallSnapshot)
            {
                // A stale leader (e.g. back from a partition) learns our term from the reply and steps down.
                Send(new Message { Type = MessageType.AppendEntriesResponse, From = Id, To = message.From, Term = Term, Reject = true });
            }
            else if (message.Type == MessageType.PreVote)
            {
                Send(new Message { Type = MessageType.PreVoteResponse, From = Id, To = message.From, Term = Term, Reject = true });
            }
            else if (message.Type == MessageType.ReadIndex)
            {
                Send(new Message { Type = MessageType.ReadIndexResponse, From = Id, To = message.From, Term = Term, Reject = true, ReadRequestId = message.ReadRequestId });
            }
            return false;
        }
        return true;
    }

    /// <summary>Whether a <see cref="GetReady"/> would return anything.</summary>
    public bool HasReady()
    {
        if (_outstandingReady is not null) return false;
        if (Role == RaftRole.Leader && (_replicationPending || _readRoundRequested)) return true;
        return _messages.Count > 0 || _leadershipLoss is not null || ForwardedReadsOrphaned || _messagesAfterPersist.Count > 0 || _readStates.Count > 0 || _receivedSnapshot is not null ||
               _log.Stable < _log.LastIndex || Math.Min(_log.Committed, _log.Stable) > _log.Applied ||
               CurrentHardState != _persistedHardState || CurrentSoftState != _reportedSoftState;
    }

    /// <summary>
    /// Collects everything to persist, send and apply. A leader builds its batched AppendEntries and ReadIndex
    /// heartbeat round here, so all proposals and reads fed in since the last Ready share messages.
    /// At most one Ready may be outstanding: call <see cref="Advance"/> before the next one.
    /// </summary>
    public Ready GetReady()
    {
        Invariant.Check(_outstandingReady is null, "GetReady called again before Advance");
        MaybeFailForwardedReads();
        if (Role == RaftRole.Leader)
        {
            MaybeStartReadRound();
            FlushReplication();
        }

        HardState hardState = CurrentHardState;
        SoftState softState = CurrentSoftState;
        var ready = new Ready
        {
            SoftState = softState != _reportedSoftState ? softState : null,
            HardState = hardState != _persistedHardState ? hardState : null,
            Snapshot = _receivedSnapshot,
            Entries = _log.UnstableEntries(),
            Messages = [.. _messages],
            MessagesAfterPersist = [.. _messagesAfterPersist],
            CommittedEntries = _log.EntriesToApply(),
            ReadStates = [.. _readStates],
            LeadershipLoss = _leadershipLoss,
        };
        _leadershipLoss = null;
        _messages.Clear();
        _messagesAfterPersist.Clear();
        _readStates.Clear();
        _receivedSnapshot = null;
        _reportedSoftState = softState;
        _outstandingReady = ready;
        return ready;
    }

    /// <summary>Acknowledges that <paramref name="ready"/> was carried out: persisted, sent and applied.</summary>
    public void Advance(Ready ready)
    {
        ArgumentNullException.ThrowIfNull(ready);
        Invariant.Check(ReferenceEquals(ready, _outstandingReady), "Advance called with a Ready that is not the outstanding one");
        _outstandingReady = null;
        if (ready.HardState is { } hardState) _persistedHardState = hardState;
        if (ready.Entries.Count > 0)
        {
            LogEntry last = ready.Entries[^1];
            _log.StableTo(last.Index, last.Term);
        }
        // A snapshot received while this Ready was outstanding may already have moved Applied past these entries.
        if (ready.CommittedEntries.Count > 0 && ready.CommittedEntries[^1].Index > _log.Applied)
        {
            _log.AppliedTo(ready.CommittedEntries[^1].Index);
        }
        if (Role == RaftRole.Leader)
        {
            // Raft thesis 10.2.1: the leader counts itself only for entries on its own stable storage.
            MaybeCommit();
        }
    }

    private void Send(Message message)
    {
        // Raft thesis 10.2.1: a leader's messages do not depend on its own unpersisted entries (it counts itself
        // towards commitment only for durable entries). Everything else - votes, acknowledgements - promises
        // durable state, so it waits for the Ready's persistence.
        // A leader whose own term and vote are not durable yet (a single voter elects itself within one Step) must
        // wait too: after a crash it could lead the same term again with a different log.
        bool termDurable = Term == _persistedHardState.Term && Vote == _persistedHardState.Vote;
        if (Role == RaftRole.Leader && termDurable) _messages.Add(message); else _messagesAfterPersist.Add(message);
    }

    private void ResetElectionTimer()
    {
        _electionElapsedTicks = 0;
        _randomizedElectionTimeoutTicks = _random.Next(_options.ElectionTimeoutTicks, 2 * _options.ElectionTimeoutTicks);
    }

    private void AcceptLeader(ulong leader)
    {
        Invariant.Check(Role != RaftRole.Leader, $"node {Id} is leader of term {Term} but node {leader} claims it too");
        if (Role != RaftRole.Follower) BecomeFollower(Term, leader);
        Leader = leader;
        _electionElapsedTicks = 0;
    }

    private void BecomeFollower(ulong term, ulong leader)
    {
        if (Role == RaftRole.Leader)
        {
            // The expected next leader: the node whose message deposed us, or the one we were handing over to.
            ulong hint = leader != 0 ? leader : _transferTarget;
            _leadershipLoss = new LeadershipLoss(Term, _log.Committed, hint);
            FailPendingReads(hint);
            AbortTransfer();
        }
        if (term != Term)
        {
            Invariant.Check(term > Term, $"term moved back from {Term} to {term}");
            Term = term;
            Vote = 0;
        }
        Role = RaftRole.Follower;
        Leader = leader;
        _votes.Clear();
        _progress.Clear();
        ResetElectionTimer();
    }
}
