namespace RaftKv.Simulation;

/// <summary>A client request on its way to a node, or the node's work on it: the client and its attempt number.</summary>
internal readonly record struct ClientRequest(int Client, int Attempt);

internal enum ClientOpKind
{
    RegisterSession,
    Put,
    Cas,
    Read,
    StaleRead,
}

/// <summary>One client operation: a write keeps its sequence number across every retry (Raft thesis 6.3).</summary>
internal sealed record ClientOp(ClientOpKind Kind, string Key, string? Value, string? Expected, ulong Sequence, long InvokeMs);

/// <summary>What a node answers: a state machine reply (writes), a value (reads), or a retryable error with a leader hint.</summary>
internal sealed record ClientResponse(byte[]? Reply = null, string? ReadValue = null, string? Error = null, ulong LeaderHint = 0, ulong NodeId = 0);

/// <summary>
/// One simulated client process, like a gateway session: one client session, one operation at a time, retried
/// with the same sequence number after an error, a lost request or a lost reply, until it gets an answer.
/// </summary>
internal sealed class SimulatedClient(int id)
{
    public int Id => id;

    /// <summary>The client session (0: none yet, or it expired and must be registered again).</summary>
    public ulong SessionId { get; set; }

    public ulong LastSequence { get; set; }

    public ClientOp? Current { get; set; }

    /// <summary>Bumped on every send; replies to earlier attempts are ignored (they were given up on).</summary>
    public int Attempt { get; set; }

    public int AttemptsOfCurrent { get; set; }

    /// <summary>When the client sends again if it has heard nothing (timeout) or after an error (backoff).</summary>
    public long RetryAtMs { get; set; }

    /// <summary>The node the client believes leads (0: unknown).</summary>
    public ulong LeaderGuess { get; set; }

    /// <summary>The last value this client saw for each key: what its next CAS expects.</summary>
    public Dictionary<string, string?> LastSeen { get; } = [];
}
