namespace RaftKv.Raft;

/// <summary>How the leader currently replicates to one follower (etcd's tracker states).</summary>
internal enum ProgressState : byte
{
    /// <summary>Next is a guess: send one AppendEntries per heartbeat interval until one is accepted.</summary>
    Probe = 0,

    /// <summary>Next is known: stream AppendEntries optimistically, up to a window of in-flight messages.</summary>
    Replicate = 1,

    /// <summary>The follower needs entries we compacted: an InstallSnapshot is on its way.</summary>
    Snapshot = 2,
}

/// <summary>The leader's view of one member's log (Raft thesis 3.5: nextIndex and matchIndex).</summary>
/// <remarks>Invariant: Match &lt; Next.</remarks>
internal sealed class Progress(ulong next, int maxInflightMessages)
{
    public ulong Match { get; private set; }

    public ulong Next { get; private set; } = next;

    public ProgressState State { get; private set; } = ProgressState.Probe;

    /// <summary>Probe state: an AppendEntries is outstanding; wait for its answer or the next heartbeat reply.</summary>
    public bool ProbeSent { get; set; }

    /// <summary>Snapshot state: the index of the snapshot being sent.</summary>
    public ulong PendingSnapshotIndex { get; private set; }

    /// <summary>Ticks spent in the Snapshot state; a lost snapshot falls back to probing after a while.</summary>
    public int SnapshotTicks { get; set; }

    /// <summary>Heard from this member since the last CheckQuorum round (Raft thesis 6.2).</summary>
    public bool RecentActive { get; set; }

    /// <summary>The highest ReadIndex round this member acknowledged (Raft thesis 6.4).</summary>
    public ulong ReadRoundAcked { get; set; }

    /// <summary>Last index of each unacknowledged AppendEntries in the Replicate state, oldest first.</summary>
    private readonly Queue<ulong> _inflight = new();

    public bool IsPaused => State switch
    {
        ProgressState.Probe => ProbeSent,
        ProgressState.Replicate => _inflight.Count >= maxInflightMessages,
        _ => true,
    };

    /// <summary>Records that the member holds our log through <paramref name="index"/>; false if that is old news.</summary>
    public bool MaybeUpdate(ulong index)
    {
        bool updated = index > Match;
        if (updated)
        {
            Match = index;
            ProbeSent = false;
        }
        Next = Math.Max(Next, index + 1);
        return updated;
    }

    /// <summary>Acknowledged messages leave the in-flight window.</summary>
    public void FreeInflightThrough(ulong index)
    {
        while (_inflight.Count > 0 && _inflight.Peek() <= index) _inflight.Dequeue();
    }

    /// <summary>Lets one more message out when the window is full and a heartbeat reply shows the member is alive.</summary>
    public void FreeFirstInflight()
    {
        if (_inflight.Count > 0) _inflight.Dequeue();
    }

    /// <summary>Optimistically advances Next past entries just sent (Replicate state pipelining).</summary>
    public void SentEntries(ulong lastIndex, int entryCount)
    {
        if (State == ProgressState.Replicate)
        {
            // Empty appends (commit updates, liveness probes) take no window slot: their acknowledgement may not
            // advance Match, so it would never free one.
            if (entryCount == 0) return;
            Next = lastIndex + 1;
            _inflight.Enqueue(lastIndex);
        }
        else
        {
            ProbeSent = true;
        }
    }

    public void BecomeProbe(ulong next)
    {
        State = ProgressState.Probe;
        Next = Math.Max(next, Match + 1);
        ProbeSent = false;
        PendingSnapshotIndex = 0;
        _inflight.Clear();
    }

    public void BecomeReplicate()
    {
        State = ProgressState.Replicate;
        Next = Match + 1;
        ProbeSent = false;
        PendingSnapshotIndex = 0;
        _inflight.Clear();
    }

    public void BecomeSnapshot(ulong snapshotIndex)
    {
        State = ProgressState.Snapshot;
        PendingSnapshotIndex = snapshotIndex;
        SnapshotTicks = 0;
        _inflight.Clear();
    }

    public override string ToString() => $"{State} match={Match} next={Next} inflight={_inflight.Count}";
}
