namespace RaftKv.Grains;

/// <summary>
/// Every error a RaftKv grain call can raise. <see cref="IsRetryable"/> says whether the same request may simply be
/// sent again: writes through a session keep their (session, sequence) on a retry, so a retry is never applied twice.
/// </summary>
/// <remarks>
/// These cross grain calls, so they are [GenerateSerializer] types with [Id] members (otherwise the caller gets a
/// CodecNotFoundException and the message is lost). Expected outcomes (compare-and-swap failed, key not found) are
/// result values, never exceptions.
/// </remarks>
[GenerateSerializer, Alias("raftkv.RaftKvException")]
public abstract class RaftKvException : Exception
{
    protected RaftKvException()
    {
    }

    protected RaftKvException(string message) : base(message)
    {
    }

    public abstract bool IsRetryable { get; }
}

/// <summary>
/// The node that was asked is not the leader. <see cref="LeaderNodeId"/> names the leader it knows of, 0 if it knows
/// none (an election is under way). Nothing was proposed, so sending the request to the leader is always safe.
/// </summary>
[GenerateSerializer, Alias("raftkv.NotLeaderException")]
public sealed class RaftKvNotLeaderException : RaftKvException
{
    public RaftKvNotLeaderException()
    {
    }

    public RaftKvNotLeaderException(ulong askedNodeId, ulong leaderNodeId)
        : base(leaderNodeId == 0
            ? $"node {askedNodeId} is not the leader and knows no leader (an election is under way); retry"
            : $"node {askedNodeId} is not the leader; the leader is node {leaderNodeId}; retry there")
    {
        AskedNodeId = askedNodeId;
        LeaderNodeId = leaderNodeId;
    }

    [Id(0)] public ulong AskedNodeId { get; init; }

    /// <summary>The leader the asked node knows of; 0 if none.</summary>
    [Id(1)] public ulong LeaderNodeId { get; init; }

    public override bool IsRetryable => true;
}

/// <summary>
/// The cluster could not serve the request now: no leader within the retry budget, leadership lost while the entry
/// was in flight, a node shutting down, or too many live sessions. Retrying is safe (with the same sequence number
/// for a write); the write may or may not have been applied until a retry answers.
/// </summary>
[GenerateSerializer, Alias("raftkv.UnavailableException")]
public sealed class RaftKvUnavailableException : RaftKvException
{
    public RaftKvUnavailableException()
    {
    }

    public RaftKvUnavailableException(string message) : base(message)
    {
    }

    public RaftKvUnavailableException(string message, ulong leaderNodeId) : base(message)
    {
        LeaderNodeId = leaderNodeId;
    }

    /// <summary>
    /// The node to retry at when the failed node named one (the new leader after a lost leadership, the target of a
    /// leadership transfer); 0 if none.
    /// </summary>
    [Id(0)] public ulong LeaderNodeId { get; init; }

    public override bool IsRetryable => true;
}

/// <summary>
/// A membership change or leadership transfer the leader refused for a reason that retrying cannot cure: already a
/// member, not a learner, a learner too far behind to promote, the last voter. Nothing changed.
/// </summary>
[GenerateSerializer, Alias("raftkv.MembershipChangeRefusedException")]
public sealed class RaftKvMembershipChangeRefusedException : RaftKvException
{
    public RaftKvMembershipChangeRefusedException()
    {
    }

    public RaftKvMembershipChangeRefusedException(string message) : base(message)
    {
    }

    public override bool IsRetryable => false;
}

/// <summary>The request breaks a limit or is malformed (empty key, key or value too large, sequence 0). Nothing changed.</summary>
[GenerateSerializer, Alias("raftkv.InvalidArgumentException")]
public sealed class RaftKvInvalidArgumentException : RaftKvException
{
    public RaftKvInvalidArgumentException()
    {
    }

    public RaftKvInvalidArgumentException(string message) : base(message)
    {
    }

    public override bool IsRetryable => false;
}

/// <summary>
/// The session expired (idle longer than the session timeout, in log time) or was never registered. A write that
/// gets this was not applied under that session; register a new session to continue.
/// </summary>
[GenerateSerializer, Alias("raftkv.SessionExpiredException")]
public sealed class RaftKvSessionExpiredException : RaftKvException
{
    public RaftKvSessionExpiredException()
    {
    }

    public RaftKvSessionExpiredException(ulong sessionId)
        : base($"session {sessionId} expired or was never registered; register a new session")
    {
        SessionId = sessionId;
    }

    [Id(0)] public ulong SessionId { get; init; }

    /// <summary>
    /// True when this write had already been sent once in the same call, and that attempt may have been applied
    /// before the session expired (it failed with a timeout or unavailability, not with a refusal). The caller must
    /// then treat the write as in doubt, not as refused, and must not send it again under another session.
    /// </summary>
    [Id(1)] public bool InDoubt { get; init; }

    public override bool IsRetryable => false;
}

/// <summary>
/// The sequence number is below the session's last applied one: that request's reply is gone from the session
/// table (a session keeps only its latest reply), so it cannot be answered again. A client bug, or a retry that
/// came after a later request of the same session.
/// </summary>
[GenerateSerializer, Alias("raftkv.StaleSequenceException")]
public sealed class RaftKvStaleSequenceException : RaftKvException
{
    public RaftKvStaleSequenceException()
    {
    }

    public RaftKvStaleSequenceException(ulong sessionId, ulong sequence)
        : base($"sequence {sequence} of session {sessionId} is below the session's last applied sequence; its reply is gone")
    {
        SessionId = sessionId;
        Sequence = sequence;
    }

    [Id(0)] public ulong SessionId { get; init; }

    [Id(1)] public ulong Sequence { get; init; }

    public override bool IsRetryable => false;
}
