using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Node;

public sealed partial class RaftDriver
{
    /// <summary>Work for the driver thread. Inputs that carry a caller's completion can be failed on shutdown.</summary>
    private abstract record Input
    {
        public virtual void Fail(Exception error)
        {
        }

        /// <summary>The tick timer fired at <paramref name="Timestamp"/> (a <see cref="TimeProvider"/> timestamp).</summary>
        public sealed record TickInput(long Timestamp) : Input;

        /// <summary>A peer's message, which arrived at <paramref name="ArrivedAt"/> (a <see cref="TimeProvider"/> timestamp).</summary>
        public sealed record Step(Message Message, long ArrivedAt) : Input;
        public sealed record SnapshotFailed(ulong Peer) : Input;

        public sealed record Propose(ReadOnlyMemory<byte> Command, TaskCompletionSource<ReadOnlyMemory<byte>> Reply) : Input
        {
            public override void Fail(Exception error) => Reply.TrySetException(error);
        }

        public sealed record Read(TaskCompletionSource<ulong> Done) : Input
        {
            public override void Fail(Exception error) => Done.TrySetException(error);
        }

        public sealed record Chunk(Message InstallSnapshot, SnapshotChunk Data, TaskCompletionSource<ChunkReceipt> Receipt) : Input
        {
            public override void Fail(Exception error) => Receipt.TrySetException(error);
        }

        public sealed record OpenSnapshot(TaskCompletionSource<SnapshotChunker?> Chunker) : Input
        {
            public override void Fail(Exception error) => Chunker.TrySetException(error);
        }

        public sealed record CaptureSnapshot(TaskCompletionSource<CapturedSnapshot> Captured) : Input
        {
            public override void Fail(Exception error) => Captured.TrySetException(error);
        }

        public sealed record HandOffLeadership(TaskCompletionSource<bool> Done) : Input
        {
            public override void Fail(Exception error) => Done.TrySetResult(false);
        }

        public sealed record SnapshotWritten(SnapshotMetadata Metadata, SnapshotWriter Writer, Exception? Error) : Input;

        public sealed record ChangeConfiguration(Func<RaftNode, ProposeResult> Change, TaskCompletionSource<ClusterConfiguration> Done) : Input
        {
            public override void Fail(Exception error) => Done.TrySetException(error);
        }

        public sealed record Transfer(ulong Target, TaskCompletionSource<ulong> Done) : Input
        {
            public override void Fail(Exception error) => Done.TrySetException(error);
        }

        public sealed record LearnAddresses(IReadOnlyList<NodeMember> Members) : Input;
    }

    private const string LeadershipLost = "leadership changed before the write committed; retry with the same sequence number";

    private void Loop()
    {
        try
        {
            while (WaitForInput()) RunOnce();
            FailAllPending(new UnavailableException("the node is shutting down"));
            _handOff?.TrySetResult(false);
            // A checkpoint only shortens the next start's replay; when the replay is short, stop sooner instead.
            if (_appliedSinceCheckpoint >= (ulong)_options.CheckpointOnStopMinEntries) _stateMachine.CheckpointAsync().GetAwaiter().GetResult();
        }
        catch (Exception e)
        {
            // I/O errors after start are fail-stop: never keep serving from state that may not be durable.
            _stopped = true;
            // Closed before the drain below: a request whose Post saw _stopped still false and writes afterwards is
            // refused by the closed inbox (and failed by Post) instead of waiting forever in an inbox nobody reads.
            _inbox.Writer.TryComplete();
            FailAllPending(new UnavailableException("the node stopped after a fatal error"));
            _onFatal(e);
        }
    }

    /// <summary>
    /// One step of the driver: handles every queued input, carries out the Readys they caused, then finishes
    /// leadership transfers and hand-offs that this step decided. The silo's driver thread runs it whenever inputs
    /// arrive; the simulator runs it on its own thread. An exception is fatal for the node (fail-stop): the thread
    /// host fails everything pending and reports it; the simulator crashes the node.
    /// </summary>
    public void RunOnce()
    {
        _slowSteps.StepStarted();
        // Drain everything queued: this is the batching point (group commit, one AppendEntries per follower).
        while (_inbox.Reader.TryRead(out Input? input)) Handle(input);
        ProcessReady();
        _status = _raft.Status;
        MaybeReportLeadership(_status);
        MaybeFinishTransfers();
        MaybeFinishHandOff();
        ScheduleTick();
        _slowSteps.StepEnded(_status.Role);
    }

    private void MaybeReportLeadership(RaftStatus status)
    {
        if ((status.Role, status.Term, status.Leader) == _reportedLeadership) return;
        _reportedLeadership = (status.Role, status.Term, status.Leader);
        LeadershipChanged?.Invoke(status);
    }

    private void Handle(Input input)
    {
        switch (input)
        {
            case Input.TickInput tick:
                Interlocked.Increment(ref _tickInputs);
                AdvanceClock(tick.Timestamp);
                _armedTick = long.MaxValue; // the one-shot timer fired; ScheduleTick arms it again
                _tickDueTimestamp = long.MaxValue;
                break;
            case Input.Step step:
                // The ticks that elapsed before the message arrived count first, as if ticks and messages had been
                // queued in arrival order: a heartbeat that arrived before the election deadline resets the timer in
                // time, and one that arrived after it does not undo the timeout.
                AdvanceClock(step.ArrivedAt);
                if (!_isolated) _raft.Step(step.Message);
                break;
            case Input.Propose propose:
                HandlePropose(propose);
                break;
            case Input.Read read:
                HandleRead(read);
                break;
            case Input.Chunk chunk:
                HandleSnapshotChunk(chunk);
                break;
            case Input.OpenSnapshot open:
                open.Chunker.TrySetResult(_storage.LatestSnapshot is null
                    ? null
                    : new SnapshotChunker(_storage.Snapshots, new SnapshotTransferOptions()));
                break;
            case Input.CaptureSnapshot capture:
                // Between Readys the core and the state machine agree on the applied index, so the metadata and the
                // image describe the same state.
                ulong applied = _stateMachine.AppliedIndex;
                capture.Captured.TrySetResult(new CapturedSnapshot(_raft.DescribeSnapshot(applied), _stateMachine.TakeSnapshot()));
                break;
            case Input.HandOffLeadership handOff:
                StartHandOff(handOff.Done);
                break;
            case Input.SnapshotFailed failed:
                _raft.ReportSnapshotFailure(failed.Peer);
                break;
            case Input.SnapshotWritten written:
                FinishSnapshot(written);
                break;
            case Input.ChangeConfiguration change:
                HandleChangeConfiguration(change);
                break;
            case Input.Transfer transfer:
                HandleTransfer(transfer);
                break;
            case Input.LearnAddresses learn:
                RefreshAddresses(learn.Members);
                break;
        }
    }

    private void StartHandOff(TaskCompletionSource<bool> done)
    {
        ulong target = _raft.MostCaughtUpVoter();
        if (target == 0 || _raft.TransferLeadership(target).Outcome != TransferLeadershipOutcome.Started)
        {
            done.TrySetResult(false);
            return;
        }
        NodeLog.HandingOffLeadership(_logger, _options.NodeId, target);
        _handOff?.TrySetResult(false);
        _handOff = done;
    }

    /// <summary>A hand-off ends when this node is no longer leader (done) or leads with no transfer in progress (abandoned).</summary>
    private void MaybeFinishHandOff()
    {
        if (_handOff is null) return;
        if (_raft.Role != RaftRole.Leader) _handOff.TrySetResult(true);
        else if (_raft.LeadershipTransferTarget == 0) _handOff.TrySetResult(false);
        else return;
        _handOff = null;
    }

    private void HandlePropose(Input.Propose propose)
    {
        ProposeResult result = _raft.Propose(propose.Command);
        switch (result.Outcome)
        {
            case ProposeOutcome.Accepted:
                _metrics.Proposed("accepted");
                if (_options.TestFaultAcknowledgeBeforeCommit && IsPut(propose.Command))
                {
                    // Test fault (validated to need EnableTestFaults): acknowledge before the entry commits.
                    propose.Reply.TrySetResult(new KvReply { Status = KvStatus.Ok, Version = new KeyVersion(result.Index, result.Index) }.Encode());
                    break;
                }
                Track(result, propose.Reply);
                break;
            case ProposeOutcome.TransferringLeadership:
                _metrics.Proposed("transferring_leadership");
                propose.Reply.TrySetException(TransferInProgress(result.LeaderHint));
                break;
            case ProposeOutcome.NotLeader:
                _metrics.Proposed("not_leader");
                propose.Reply.TrySetException(new NotLeaderException(result.LeaderHint));
                break;
            default:
                _metrics.Proposed("dropped");
                propose.Reply.TrySetException(new UnavailableException($"proposal dropped: {result.Reason}; retry", mayHaveBeenApplied: false));
                break;
        }
    }

    /// <summary>Waits for an accepted entry: its reply when it applies, an error when it is lost.</summary>
    private void Track(ProposeResult result, TaskCompletionSource<ReadOnlyMemory<byte>> reply)
    {
        if (_proposals.Remove(result.Index, out var replaced))
        {
            // Leadership was lost and regained within one drain: the older proposal at this index is gone.
            replaced.Reply.TrySetException(new UnavailableException(LeadershipLost));
        }
        _proposals[result.Index] = (result.Term, reply);
    }

    private static bool IsPut(ReadOnlyMemory<byte> command) =>
        KvCommand.TryDecode(command, out KvCommand? decoded, out _) && decoded.Type == KvCommandType.Put;

    private void HandleRead(Input.Read read)
    {
        ulong id = ++_nextReadId;
        if (_raft.ReadIndex(id) == ReadIndexOutcome.NoLeader)
        {
            read.Done.TrySetException(new UnavailableException("no leader; retry"));
            return;
        }
        _reads[id] = (read.Done, _time.GetTimestamp());
    }

    private void ExpireReads()
    {
        if (_reads.Count == 0) return;
        var timeout = TimeSpan.FromMilliseconds(_options.ReadIndexTimeoutMs);
        foreach ((ulong id, (TaskCompletionSource<ulong> done, long start)) in _reads.ToArray())
        {
            if (_time.GetElapsedTime(start) < timeout) continue;
            done.TrySetException(new UnavailableException("leadership could not be confirmed in time; retry"));
            _reads.Remove(id);
        }
    }

    private void HandleSnapshotChunk(Input.Chunk chunk)
    {
        if (_isolated)
        {
            chunk.Receipt.TrySetException(new UnavailableException("isolated"));
            return;
        }
        _snapshotReceiver ??= new SnapshotReceiver(_storage.Snapshots);
        ChunkReceipt receipt = _snapshotReceiver.Accept(chunk.Data);
        // A Stale receipt may also mean "another, newer transfer is in progress" while this node holds no snapshot
        // at all yet: then there is nothing to step.
        if (receipt.Outcome is ChunkOutcome.Completed or ChunkOutcome.Stale && _storage.LatestSnapshot is not null)
        {
            // The whole snapshot is staged and verified (or we hold it, or a newer one, already): Raft decides what
            // to do with it (thesis 5.3) and answers the leader either way, so a leader whose earlier answer was
            // lost does not resend the snapshot forever.
            _raft.Step(chunk.InstallSnapshot with { Snapshot = _storage.LatestSnapshot });
            // Install a snapshot the core staged now, while it is still the store's latest: a later input of this drain
            // may publish a newer one (another sender's transfer, whose InstallSnapshot the core may refuse).
            ProcessReady();
        }
        chunk.Receipt.TrySetResult(receipt);
    }

    /// <summary>The driver half of the Ready contract (see <see cref="Ready"/>).</summary>
    private void ProcessReady()
    {
        while (_raft.HasReady())
        {
            Ready ready = _raft.GetReady();
            _seams.Observer?.OnReady(ready);
            if (ready.SoftState is { } soft)
            {
                NodeLog.RoleChanged(_logger, _options.NodeId, soft.Role, soft.Term, soft.Leader);
                // A campaign raises the term; a Ready may already show its outcome (a single voter wins at once).
                if (soft.Term > _knownTerm && soft.Role is RaftRole.Candidate or RaftRole.Leader) _metrics.CampaignStarted();
                if ((soft.Leader != _knownLeader || soft.Term != _knownTerm) && !_options.TestFaultKeepRequestsOnLeadershipLoss) FailReadsAwaitingConfirmation(soft.Leader);
                (_knownLeader, _knownTerm) = (soft.Leader, soft.Term);
            }
            Send(ready.Messages); // thesis 10.2.1: the leader replicates while its own append is in flight
            if (ready.Snapshot is { } snapshot)
            {
                long installStart = _time.GetTimestamp();
                _storage.InstallPublishedSnapshot(snapshot);
                byte[] data = _storage.ReadLatestSnapshotData();
                _stateMachine.Restore(snapshot.Index, new MemoryStream(data));
                _metrics.SnapshotInstalled(_time.GetElapsedTime(installStart), data.Length);
                NodeLog.SnapshotInstalled(_logger, _options.NodeId, snapshot.Index, snapshot.Term);
                RefreshAddresses();
            }
            // One fsync for the whole batch. A hard state whose only change is the commit index is not worth an fsync
            // of its own: the commit index is a recovery hint (Raft needs only term and vote durable), so it rides
            // along with the next batch of entries.
            bool commitOnly = ready.Entries.Count == 0 && ready.HardState is { } hard &&
                              hard.Term == _savedHardState.Term && hard.Vote == _savedHardState.Vote;
            if (!commitOnly)
            {
                long persistStart = _time.GetTimestamp();
                _storage.Save(ready.HardState, ready.Entries);
                TimeSpan persisting = _time.GetElapsedTime(persistStart);
                _metrics.Persisted(persisting, ready.Entries.Count);
                _slowSteps.Persisted(persisting, ready.Entries.Count);
                _seams.Observer?.OnPersisted(ready.HardState, ready.Entries);
                if (ready.HardState is { } saved) _savedHardState = saved;
            }
            Send(ready.MessagesAfterPersist);
            if (ready.CommittedEntries.Count > 0)
            {
                long applyStart = _time.GetTimestamp();
                foreach (LogEntry entry in ready.CommittedEntries) Apply(entry);
                TimeSpan applying = _time.GetElapsedTime(applyStart);
                _metrics.AppliedBatch(applying);
                _slowSteps.Applied(applying, ready.CommittedEntries.Count);
                _metrics.Applied(ready.CommittedEntries.Count);
            }
            // After applying, so a proposal that committed in this Ready gets its real reply rather than a retry.
            if (_options.TestFaultKeepRequestsOnLeadershipLoss)
            {
                // Test fault (validated to need EnableTestFaults): proposals wait to be applied or overwritten.
            }
            else if (ready.LeadershipLoss is { } loss)
            {
                FailProposalsLostWith(loss, ready.SoftState is { Leader: not 0 } now ? now.Leader : loss.LeaderHint);
            }
            else if (ready.SoftState is { Role: not RaftRole.Leader } notLeading && _proposals.Count > 0)
            {
                // Not leading, yet proposals wait (the loss was reported earlier): those above the commit index may never commit.
                FailProposalsLostWith(new LeadershipLoss(ulong.MaxValue, _raft.Status.CommitIndex, notLeading.Leader), notLeading.Leader);
            }
            foreach (ReadState state in ready.ReadStates) OnReadState(state);
            _raft.Advance(ready);
            ReleaseReads();
            MaybeCheckpoint();
            MaybeStartSnapshot();
        }
    }

    private void Send(IReadOnlyList<Message> messages)
    {
        if (_isolated) return;
        foreach (Message message in messages) _transport!.Send(message);
    }

    private void Apply(in LogEntry entry)
    {
        ReadOnlyMemory<byte> reply = _stateMachine.Apply(entry).ToArray();
        _seams.Observer?.OnApplied(entry, reply);
        _appliedSinceCheckpoint++;
        if (entry.Type == EntryType.Configuration) RefreshAddresses();
        if (_proposals.Remove(entry.Index, out var pending))
        {
            if (pending.Term == entry.Term) pending.Reply.TrySetResult(reply);
            else pending.Reply.TrySetException(new UnavailableException("the write was overwritten by a new leader; retry with the same sequence number"));
        }
    }

    private void OnReadState(ReadState state)
    {
        if (!_reads.Remove(state.RequestId, out var read)) return;
        if (!state.Succeeded)
        {
            read.Done.TrySetException(new UnavailableException("leadership could not be confirmed; retry"));
            return;
        }
        _readsWaitingForApply.Enqueue((read.Done, read.StartTimestamp, state.Index), state.Index);
    }

    private void ReleaseReads()
    {
        ulong applied = _stateMachine.AppliedIndex;
        while (_readsWaitingForApply.TryPeek(out var read, out ulong index) && index <= applied)
        {
            _readsWaitingForApply.Dequeue();
            read.Done.TrySetResult(read.ReadIndex);
            _metrics.ReadServed(_time.GetElapsedTime(read.StartTimestamp));
        }
    }

    private void MaybeCheckpoint()
    {
        if (_appliedSinceCheckpoint < (ulong)_options.CheckpointEveryEntries) return;
        _appliedSinceCheckpoint = 0;
        long start = _time.GetTimestamp();
        // The cut is taken now; FASTER flushes in the background.
        _ = _stateMachine.CheckpointAsync().ContinueWith(
            checkpoint => _metrics.CheckpointFinished(_time.GetElapsedTime(start), checkpoint.IsCompletedSuccessfully && checkpoint.Result.Succeeded),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// Copies out, at the first wake-up once a heartbeat interval has passed, what the gauges need and only this thread may read: the leader's
    /// match index per follower (replication lag), the session count and FASTER's log size.
    /// </summary>
    private void MaybePublishSample(int elapsedTicks)
    {
        _ticksSinceSample += elapsedTicks;
        if (_ticksSinceSample < _options.HeartbeatIntervalMs / _options.TickIntervalMs) return;
        _ticksSinceSample = 0;
        _metrics.Publish(new NodeSample(_raft.Status.LastIndex, _raft.ReplicationMatches(), _stateMachine.SessionCount, _stateMachine.LogSizeBytes));
    }

    private void FailProposals(string reason, ulong leaderHint = 0)
    {
        foreach (var pending in _proposals.Values) pending.Reply.TrySetException(new UnavailableException(reason, leaderHint: leaderHint));
        _proposals.Clear();
    }

    /// <summary>
    /// Fail fast on leadership loss (<see cref="Ready.LeadershipLoss"/>): every proposal accepted in the lost term or
    /// earlier above the commit index then may or may not commit under the next leader, so its caller is told at once
    /// (retryable, with the same sequence number) and pointed at the new leader, instead of waiting for a timeout.
    /// Proposals at or below the commit index are committed and get their reply when applied.
    /// </summary>
    private void FailProposalsLostWith(LeadershipLoss loss, ulong leaderHint)
    {
        if (_proposals.Count == 0) return;
        string reason = leaderHint == 0
            ? "leadership was lost before the write committed and no leader is known yet; retry with the same sequence number"
            : $"leadership was lost before the write committed; node {leaderHint} leads now (or is about to); retry there with the same sequence number";
        foreach ((ulong index, (ulong term, TaskCompletionSource<ReadOnlyMemory<byte>> reply)) in _proposals.ToArray())
        {
            if (term > loss.Term || index <= loss.Commit) continue;
            reply.TrySetException(new UnavailableException(reason, leaderHint: leaderHint));
            _proposals.Remove(index);
        }
    }

    /// <summary>
    /// A leadership change means reads still waiting for a quorum's confirmation (or, on a follower, for the old
    /// leader's answer) may never get one: fail them at once, naming the new leader if known, rather than letting them
    /// wait out <see cref="NodeOptions.ReadIndexTimeoutMs"/>. Reads that already hold a confirmed read index stay: they
    /// only wait for this node to apply it.
    /// </summary>
    private void FailReadsAwaitingConfirmation(ulong newLeader)
    {
        if (_reads.Count == 0) return;
        var error = new UnavailableException(newLeader == 0
            ? "leadership changed before the read was confirmed and no leader is known yet; retry"
            : $"leadership changed before the read was confirmed; node {newLeader} now leads; retry", leaderHint: newLeader);
        foreach (var read in _reads.Values) read.Done.TrySetException(error);
        _reads.Clear();
    }

    private void FailAllPending(Exception error)
    {
        FailProposals(error.Message);
        foreach ((_, TaskCompletionSource<ulong> done) in _transferWaiters) done.TrySetException(error);
        _transferWaiters.Clear();
        foreach (var read in _reads.Values) read.Done.TrySetException(error);
        _reads.Clear();
        while (_readsWaitingForApply.TryDequeue(out var read, out _)) read.Done.TrySetException(error);
        while (_inbox.Reader.TryRead(out Input? input)) input.Fail(error);
    }
}
