namespace RaftKv.Raft;

/// <summary>The Raft RPCs and their replies, plus the few extensions this implementation uses.</summary>
public enum MessageType : byte
{
    /// <summary>Raft thesis 9.6: "would you vote for me at Term?"; changes no state on either side.</summary>
    PreVote = 1,
    PreVoteResponse = 2,

    /// <summary>Raft thesis 3.4.</summary>
    RequestVote = 3,
    RequestVoteResponse = 4,

    /// <summary>Raft thesis 3.5: entries after (<see cref="Message.LogIndex"/>, <see cref="Message.LogTerm"/>).</summary>
    AppendEntries = 5,
    AppendEntriesResponse = 6,

    /// <summary>
    /// An AppendEntries with no entries that carries the leader's commit (capped at the follower's match) and a
    /// ReadIndex round number (Raft thesis 6.4); it never triggers a consistency check.
    /// </summary>
    Heartbeat = 7,
    HeartbeatResponse = 8,

    /// <summary>
    /// Raft thesis 5.3. Carries only <see cref="Message.Snapshot"/> metadata: the transport streams the snapshot
    /// bytes in checksummed chunks and steps this message into the follower once the whole snapshot is staged. The
    /// transport sends the sender's latest snapshot, which may be newer than the one named when the message was
    /// queued, and sets <see cref="Message.Snapshot"/> to the metadata of the bytes it actually sent.
    /// </summary>
    InstallSnapshot = 9,

    /// <summary>A follower asks the leader for a read index on behalf of its client (Raft thesis 6.4).</summary>
    ReadIndex = 10,
    ReadIndexResponse = 11,

    /// <summary>Raft thesis 3.10: the leader tells a caught-up target to start an election now.</summary>
    TimeoutNow = 12,
}

/// <summary>
/// One message between Raft nodes. A single shape for every RPC keeps the wire codec and the simulator simple;
/// each field documents which messages use it.
/// </summary>
public sealed record Message
{
    public required MessageType Type { get; init; }

    public required ulong From { get; init; }

    public required ulong To { get; init; }

    /// <summary>The sender's term; for PreVote, the term the sender would campaign at.</summary>
    public required ulong Term { get; init; }

    /// <summary>
    /// AppendEntries: index of the entry before <see cref="Entries"/> (prevLogIndex).
    /// RequestVote/PreVote: the candidate's last log index.
    /// AppendEntriesResponse: on success, the last index the follower now matches; on reject, the rejected prevLogIndex.
    /// ReadIndexResponse: the read index.
    /// </summary>
    public ulong LogIndex { get; init; }

    /// <summary>AppendEntries: term of <see cref="LogIndex"/>. RequestVote/PreVote: the candidate's last log term.</summary>
    public ulong LogTerm { get; init; }

    public IReadOnlyList<LogEntry> Entries { get; init; } = [];

    /// <summary>AppendEntries/Heartbeat: the leader's commit index (for heartbeats, capped at the follower's match).</summary>
    public ulong Commit { get; init; }

    /// <summary>Responses: true when the request was refused (vote not granted, log inconsistent, read refused).</summary>
    public bool Reject { get; init; }

    /// <summary>
    /// Rejected AppendEntriesResponse, fast backtracking: the term of the follower's entry at the rejected index
    /// (0 if its log is shorter) ...
    /// </summary>
    public ulong ConflictTerm { get; init; }

    /// <summary>... and the first index the follower holds with <see cref="ConflictTerm"/> (or its last index + 1).</summary>
    public ulong ConflictIndex { get; init; }

    /// <summary>Heartbeat/HeartbeatResponse: the ReadIndex round this heartbeat confirms.</summary>
    public ulong ReadRound { get; init; }

    /// <summary>ReadIndex/ReadIndexResponse: the requester's identifier for the read.</summary>
    public ulong ReadRequestId { get; init; }

    /// <summary>
    /// RequestVote: the election was started by TimeoutNow in a leadership transfer (Raft thesis 3.10), so voters
    /// must not ignore it for still hearing from the current leader (the CheckQuorum lease of thesis 4.2.3).
    /// </summary>
    public bool LeadershipTransfer { get; init; }

    /// <summary>InstallSnapshot: what the snapshot covers. The bytes travel beside the message.</summary>
    public SnapshotMetadata? Snapshot { get; init; }

    public override string ToString()
    {
        string text = $"{Type} {From}->{To} t{Term}";
        return Type switch
        {
            MessageType.AppendEntries => $"{text} prev={LogIndex}@{LogTerm} n={Entries.Count} commit={Commit}",
            MessageType.AppendEntriesResponse => Reject
                ? $"{text} reject={LogIndex} hint={ConflictIndex}@{ConflictTerm}"
                : $"{text} match={LogIndex}",
            MessageType.RequestVote or MessageType.PreVote => $"{text} last={LogIndex}@{LogTerm}" + (LeadershipTransfer ? " transfer" : ""),
            MessageType.RequestVoteResponse or MessageType.PreVoteResponse => $"{text} {(Reject ? "rejected" : "granted")}",
            MessageType.Heartbeat => $"{text} commit={Commit} round={ReadRound}",
            MessageType.HeartbeatResponse => $"{text} round={ReadRound}",
            MessageType.InstallSnapshot => $"{text} {Snapshot}",
            MessageType.ReadIndex => $"{text} read={ReadRequestId}",
            MessageType.ReadIndexResponse => $"{text} read={ReadRequestId} index={LogIndex} {(Reject ? "rejected" : "ok")}",
            _ => text,
        };
    }
}
