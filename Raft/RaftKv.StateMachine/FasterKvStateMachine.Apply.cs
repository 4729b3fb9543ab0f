namespace RaftKv.StateMachine;

public sealed partial class FasterKvStateMachine
{
    /// <summary>
    /// Applies one command entry. Deterministic: the outcome depends only on the entry, the applied state and the
    /// session table, never on the local clock, thread timing or hash order.
    /// </summary>
    private KvReply ApplyCommand(ulong index, ReadOnlyMemory<byte> data)
    {
        if (!KvCommand.TryDecode(data, out var command, out string error))
        {
            return KvReply.Error(KvStatus.MalformedCommand, error);
        }
        // Log time advances (and sessions expire) before the command is looked at, so a command arriving after its
        // session's timeout finds the session gone.
        _sessions.AdvanceClock(command.TimestampMs, _options.SessionTimeoutMs);
        var validation = command.Validate(_options);

        switch (command.Type)
        {
            case KvCommandType.RegisterSession:
                if (!validation.IsValid) return KvReply.Error(KvStatus.InvalidArgument, validation.Reason);
                if (_sessions.Count >= _options.MaxSessions) return KvReply.Error(KvStatus.TooManySessions);
                // Raft thesis 6.3: the session id is the index of the entry that registered it, unique by construction.
                _sessions.Register(index);
                return new KvReply { Status = KvStatus.Ok, SessionId = index };

            case KvCommandType.KeepAlive:
                if (!validation.IsValid) return KvReply.Error(KvStatus.InvalidArgument, validation.Reason);
                if (command.SessionId == 0) return new KvReply { Status = KvStatus.Ok };
                if (LookUpSession(index, command.SessionId) is { } missing) return missing;
                _sessions.Update(command.SessionId);
                return new KvReply { Status = KvStatus.Ok, SessionId = command.SessionId };
        }

        if (LookUpSession(index, command.SessionId) is { } noSession) return noSession;
        _sessions.TryGet(command.SessionId, out var session);
        if (command.Sequence == 0) return KvReply.Error(KvStatus.InvalidArgument, "a write needs a sequence number of at least 1");
        if (command.Sequence <= session.LastSequence)
        {
            _sessions.Update(command.SessionId);
            // Exactly-once: the retry of the last command gets the stored reply; anything older is gone.
            if (command.Sequence == session.LastSequence && KvReply.TryDecode(session.LastReply, out var stored)) return stored;
            return KvReply.Error(KvStatus.StaleSequence, $"sequence {command.Sequence} is below the last applied {session.LastSequence}");
        }

        var reply = validation.IsValid ? Execute(index, command) : KvReply.Error(KvStatus.InvalidArgument, validation.Reason);
        _sessions.Update(command.SessionId, command.Sequence, reply.Encode());
        return reply;
    }

    private KvReply? LookUpSession(ulong index, ulong sessionId)
    {
        // Session ids are indices of earlier RegisterSession entries; anything else cannot name a session.
        if (sessionId == 0 || sessionId >= index) return KvReply.Error(KvStatus.UnknownSession, $"no session {sessionId}");
        // An id below the current index that is not in the table expired (or never was a registration; both mean
        // "register again").
        return _sessions.TryGet(sessionId, out _) ? null : KvReply.Error(KvStatus.SessionExpired, $"session {sessionId} expired");
    }

    private KvReply Execute(ulong index, KvCommand command)
    {
        long serialNo = (long)index;
        byte[]? current = FasterStore.Read(_applySession, command.Key.Span, serialNo);
        var currentVersion = current is null ? KeyVersion.Absent : FasterStore.ParseVersion(current);
        switch (command.Type)
        {
            case KvCommandType.Put:
                return Write(index, command, currentVersion);

            case KvCommandType.Delete:
                if (current is null) return new KvReply { Status = KvStatus.NotFound };
                FasterStore.Delete(_applySession, command.Key.Span, serialNo);
                return new KvReply { Status = KvStatus.Ok, Version = currentVersion };

            case KvCommandType.CompareAndSwap:
                bool holds = command.Condition switch
                {
                    CasCondition.ValueEquals => current is not null &&
                        current.AsSpan(FasterStore.VersionBytes).SequenceEqual(command.ExpectedValue.Span),
                    CasCondition.Absent => current is null,
                    CasCondition.ModIndexEquals => currentVersion.ModIndex == command.ExpectedModIndex,
                    _ => false,
                };
                if (holds) return Write(index, command, currentVersion);
                return new KvReply
                {
                    Status = KvStatus.CasFailed, Version = currentVersion,
                    // The cast matters: a bare null would convert to an empty Memory through byte[], reading as "empty value".
                    Value = current is null ? (ReadOnlyMemory<byte>?)null : current.AsMemory(FasterStore.VersionBytes),
                };

            default:
                throw new InvalidOperationException($"not a write: {command.Type}");
        }
    }

    private KvReply Write(ulong index, KvCommand command, KeyVersion currentVersion)
    {
        var version = new KeyVersion(currentVersion.Exists ? currentVersion.CreateIndex : index, index);
        FasterStore.Upsert(_applySession, command.Key.Span, version.CreateIndex, version.ModIndex, command.Value.Span, (long)index);
        return new KvReply { Status = KvStatus.Ok, Version = version };
    }
}
