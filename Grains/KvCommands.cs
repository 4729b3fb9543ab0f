using RaftKv.StateMachine;

namespace RaftKv.Grains;

/// <summary>
/// Maps the Orleans contract types onto the state machine's own command and reply types. The encoding of the log is
/// <see cref="KvCommand"/>'s and <see cref="KvReply"/>'s alone; this class only chooses their factory methods.
/// </summary>
internal static class KvCommands
{
    public static KvCommand ToCommand(ulong sessionId, ulong sequence, long timestampMs, KvWrite write)
    {
        if (RaftKv.Node.MemberAddressBook.IsReserved(write.Key)) throw new RaftKvInvalidArgumentException(RaftKv.Node.MemberAddressBook.ReservedRefusal);
        return write.Kind switch
        {
            KvWriteKind.Put => KvCommand.Put(sessionId, sequence, timestampMs, write.Key, write.Value),
            KvWriteKind.Delete => KvCommand.Delete(sessionId, sequence, timestampMs, write.Key),
            KvWriteKind.CompareAndSwap => write.Condition switch
            {
                KvCondition.ValueEquals => KvCommand.CompareValueAndSwap(sessionId, sequence, timestampMs, write.Key, write.ExpectedValue, write.Value),
                KvCondition.Absent => KvCommand.CreateIfAbsent(sessionId, sequence, timestampMs, write.Key, write.Value),
                KvCondition.ModRevisionEquals => KvCommand.CompareModIndexAndSwap(sessionId, sequence, timestampMs, write.Key, write.ExpectedModRevision, write.Value),
                _ => throw new RaftKvInvalidArgumentException("a compare-and-swap needs a condition: ValueEquals, Absent or ModRevisionEquals"),
            },
            _ => throw new RaftKvInvalidArgumentException($"unknown write kind {(int)write.Kind}"),
        };
    }

    /// <summary>Expected outcomes become a result; every other status becomes the matching exception.</summary>
    public static KvWriteResult ToResult(KvReply reply, ulong sessionId, ulong sequence)
    {
        ThrowIfError(reply, sessionId, sequence);
        return new KvWriteResult
        {
            Status = reply.Status switch
            {
                KvStatus.NotFound => KvWriteStatus.NotFound,
                KvStatus.CasFailed => KvWriteStatus.CompareFailed,
                _ => KvWriteStatus.Ok,
            },
            CreateRevision = reply.Version.CreateIndex,
            ModRevision = reply.Version.ModIndex,
            CurrentValue = reply.Status == KvStatus.CasFailed && reply.Value is { } current ? current.ToArray() : null,
        };
    }

    public static void ThrowIfError(KvReply reply, ulong sessionId, ulong sequence)
    {
        switch (reply.Status)
        {
            case KvStatus.Ok or KvStatus.NotFound or KvStatus.CasFailed:
                return;
            case KvStatus.SessionExpired:
                throw new RaftKvSessionExpiredException(sessionId);
            case KvStatus.UnknownSession:
                throw new RaftKvInvalidArgumentException($"unknown session {sessionId}; register a session first");
            case KvStatus.StaleSequence:
                throw new RaftKvStaleSequenceException(sessionId, sequence);
            case KvStatus.InvalidArgument:
                throw new RaftKvInvalidArgumentException("the state machine rejected the command as invalid");
            case KvStatus.TooManySessions:
                throw new RaftKvUnavailableException("too many live sessions; retry later");
            default:
                throw new RaftKvInvalidArgumentException($"the state machine could not apply the command ({reply.Status})");
        }
    }

    public static KvItem ToItem(KvEntry entry) => new()
    {
        Key = entry.Key.ToArray(),
        Value = entry.Value.ToArray(),
        CreateRevision = entry.Version.CreateIndex,
        ModRevision = entry.Version.ModIndex,
    };
}
