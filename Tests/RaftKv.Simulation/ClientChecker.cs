using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Simulation;

/// <summary>
/// Checks what clients see, from outside the replicas: exactly-once (every acknowledged write executed, a retried
/// command never executed twice), no acknowledged write lost, and the per-key linearizability of the history of
/// puts, CAS and linearizable reads (the register model and checker shared with the chaos runner).
/// </summary>
public sealed class ClientChecker(ClusterChecker cluster)
{
    private readonly Dictionary<(ulong Session, ulong Sequence), ulong> _executedAt = [];
    private readonly Dictionary<string, ulong> _lastAcknowledgedWriteIndex = [];
    private readonly HashSet<string> _writtenValues = [];
    private readonly List<Operation> _history = [];

    public IReadOnlyList<Operation> History => _history;

    public int AcknowledgedWrites { get; private set; }

    public int LinearizableReads { get; private set; }

    public int StaleReads { get; private set; }

    public int Retries { get; set; }

    /// <summary>Writes answered SessionExpired (or UnknownSession): their outcome is unknown and the client registers again.</summary>
    public int SessionsExpired { get; set; }

    public int KeysGivenUp { get; private set; }

    /// <summary>
    /// Every node's apply of a command entry. A write executed at index i stamps its key with revision i, and the
    /// reply says so; a retry answered from the session table returns the revision of the original execution. So
    /// (session, sequence) executed at two different indices means a retried command ran twice.
    /// </summary>
    public void OnApplied(ulong nodeId, in LogEntry entry, ReadOnlyMemory<byte> replyBytes)
    {
        if (entry.Type != EntryType.Command || !KvCommand.TryDecode(entry.Data, out KvCommand? command, out _) || !command.IsWrite) return;
        if (!KvReply.TryDecode(replyBytes, out KvReply? reply) || reply.Status != KvStatus.Ok || reply.Version.ModIndex != entry.Index) return;
        var id = (command.SessionId, command.Sequence);
        if (_executedAt.TryGetValue(id, out ulong earlier))
        {
            if (earlier != entry.Index)
            {
                cluster.Violation($"exactly-once: node {nodeId} executed session {command.SessionId} sequence {command.Sequence} at index {entry.Index}, " +
                                  $"but it was already executed at index {earlier}");
            }
            return;
        }
        _executedAt[id] = entry.Index;
    }

    /// <summary>A write the client saw acknowledged must have executed exactly where its reply says.</summary>
    public void OnWriteAcknowledged(string key, ulong session, ulong sequence, KvReply reply)
    {
        if (reply.Status != KvStatus.Ok) return;
        AcknowledgedWrites++;
        if (!_executedAt.TryGetValue((session, sequence), out ulong index) || index != reply.Version.ModIndex)
        {
            cluster.Violation($"exactly-once: session {session} sequence {sequence} was acknowledged with revision {reply.Version.ModIndex}, " +
                              $"but no node executed it there");
        }
        _lastAcknowledgedWriteIndex[key] = Math.Max(_lastAcknowledgedWriteIndex.GetValueOrDefault(key), reply.Version.ModIndex);
    }

    public void OnValueWritten(string value) => _writtenValues.Add(value);

    public void Record(Operation operation)
    {
        _history.Add(operation);
        if (operation.Kind == OpKind.Get && operation.Outcome == Outcome.Ok) LinearizableReads++;
    }

    /// <summary>A stale read is not linearizable, but it must return a value some client wrote (or nothing).</summary>
    public void OnStaleRead(ulong nodeId, string key, string? value)
    {
        StaleReads++;
        if (value is not null && !_writtenValues.Contains(value)) cluster.Violation($"stale read of {key} on node {nodeId} returned {value}, which no client wrote");
    }

    /// <summary>No acknowledged write lost: the converged state holds each key at or after the latest acknowledged write's revision.</summary>
    public void CheckFinalRecords(Func<string, KvEntry?> read)
    {
        foreach ((string key, ulong index) in _lastAcknowledgedWriteIndex)
        {
            ulong final = read(key)?.Version.ModIndex ?? 0;
            if (final < index) cluster.Violation($"lost write: {key} was acknowledged at revision {index}, but the final state has it at revision {final}");
        }
    }

    /// <summary>Per-key linearizability (Wing &amp; Gong, as Porcupine); a key whose search exceeds the budget is counted, not passed.</summary>
    public void CheckLinearizability(long maxStatesPerKey)
    {
        foreach (KeyVerdict verdict in LinearizabilityChecker.CheckAll(_history, maxStates: maxStatesPerKey))
        {
            if (verdict.GaveUp) KeysGivenUp++;
            if (!verdict.Violation) continue;
            cluster.Violation($"linearizability: key {verdict.Key} ({verdict.Operations} operations) has no linearization; shortest failing history:\n      " +
                              string.Join("\n      ", verdict.FailingHistory.TakeLast(12)));
        }
    }
}
