namespace RaftKv.StateMachine;

/// <summary>
/// The applied key-value records as the apply logic sees them: FASTER in <see cref="FasterKvStateMachine"/>, a sorted
/// dictionary in its in-memory twin <see cref="MemoryKvStateMachine"/>. A record is [createIndex u64][modIndex u64][value].
/// </summary>
internal interface IKvRecordStore
{
    /// <summary>The record of <paramref name="key"/> (versions then value), or null if the key is absent.</summary>
    byte[]? Read(ReadOnlySpan<byte> key, ulong index);

    /// <summary>The versions of <paramref name="key"/>'s record (Absent if none), without copying its value.</summary>
    KeyVersion ReadVersion(ReadOnlySpan<byte> key, ulong index);

    void Upsert(ReadOnlySpan<byte> key, KeyVersion version, ReadOnlySpan<byte> value, ulong index);

    void Delete(ReadOnlySpan<byte> key, ulong index);
}

/// <summary>
/// The semantics of a command entry, shared by every implementation of the KV state machine so that the simulator
/// applies exactly what a silo applies: the command codec, session registration, expiry and deduplication (Raft
/// thesis 6.3), CAS conditions and key revisions. Deterministic: the outcome depends only on the entry, the records
/// and the session table, never on the local clock, thread timing or hash order.
/// </summary>
internal static class KvApply
{
    public static KvReply Command(ulong index, ReadOnlyMemory<byte> data, SessionTable sessions, StateMachineOptions options, IKvRecordStore records)
    {
        if (!KvCommand.TryDecode(data, out var command, out string error))
        {
            return KvReply.Error(KvStatus.MalformedCommand, error);
        }
        // Log time advances (and sessions expire) before the command is looked at, so a command arriving after its
        // session's timeout finds the session gone.
        sessions.AdvanceClock(command.TimestampMs, options.SessionTimeoutMs);
        var validation = command.Validate(options);

        switch (command.Type)
        {
            case KvCommandType.RegisterSession:
                if (!validation.IsValid) return KvReply.Error(KvStatus.InvalidArgument, validation.Reason);
                if (sessions.Count >= options.MaxSessions) return KvReply.Error(KvStatus.TooManySessions);
                // Raft thesis 6.3: the session id is the index of the entry that registered it, unique by construction.
                sessions.Register(index);
                return new KvReply { Status = KvStatus.Ok, SessionId = index };

            case KvCommandType.KeepAlive:
                if (!validation.IsValid) return KvReply.Error(KvStatus.InvalidArgument, validation.Reason);
                if (command.SessionId == 0) return new KvReply { Status = KvStatus.Ok };
                if (LookUpSession(sessions, index, command.SessionId) is { } missing) return missing;
                sessions.Update(command.SessionId);
                return new KvReply { Status = KvStatus.Ok, SessionId = command.SessionId };
        }

        if (LookUpSession(sessions, index, command.SessionId) is { } noSession) return noSession;
        sessions.TryGet(command.SessionId, out var session);
        if (command.Sequence == 0) return KvReply.Error(KvStatus.InvalidArgument, "a write needs a sequence number of at least 1");
        // Test fault (simulator only): forget that the last sequence number was applied, so a retry runs again.
        bool dedupe = !options.TestFaultApplyRetriesTwice || command.Sequence < session.LastSequence;
        if (dedupe && command.Sequence <= session.LastSequence)
        {
            sessions.Update(command.SessionId);
            // Exactly-once: the retry of the last command gets the stored reply; anything older is gone.
            if (command.Sequence == session.LastSequence && KvReply.TryDecode(session.LastReply, out var stored)) return stored;
            return KvReply.Error(KvStatus.StaleSequence, $"sequence {command.Sequence} is below the last applied {session.LastSequence}");
        }

        var reply = validation.IsValid ? Execute(index, command, records) : KvReply.Error(KvStatus.InvalidArgument, validation.Reason);
        sessions.Update(command.SessionId, command.Sequence, reply.Encode());
        return reply;
    }

    private static KvReply? LookUpSession(SessionTable sessions, ulong index, ulong sessionId)
    {
        // Session ids are indices of earlier RegisterSession entries; anything else cannot name a session.
        if (sessionId == 0 || sessionId >= index) return KvReply.Error(KvStatus.UnknownSession, $"no session {sessionId}");
        // An id below the current index that is not in the table expired (or never was a registration; both mean
        // "register again").
        return sessions.TryGet(sessionId, out _) ? null : KvReply.Error(KvStatus.SessionExpired, $"session {sessionId} expired");
    }

    private static KvReply Execute(ulong index, KvCommand command, IKvRecordStore records)
    {
        // A put or delete needs only the record's versions; a compare-and-swap may compare or return the value.
        if (command.Type is KvCommandType.Put or KvCommandType.Delete)
        {
            KeyVersion version = records.ReadVersion(command.Key.Span, index);
            if (command.Type == KvCommandType.Put) return Write(index, command, version, records);
            if (!version.Exists) return new KvReply { Status = KvStatus.NotFound };
            records.Delete(command.Key.Span, index);
            return new KvReply { Status = KvStatus.Ok, Version = version };
        }
        byte[]? current = records.Read(command.Key.Span, index);
        var currentVersion = current is null ? KeyVersion.Absent : ParseVersion(current);
        switch (command.Type)
        {
            case KvCommandType.CompareAndSwap:
                bool holds = command.Condition switch
                {
                    CasCondition.ValueEquals => current is not null &&
                        current.AsSpan(RecordVersionBytes).SequenceEqual(command.ExpectedValue.Span),
                    CasCondition.Absent => current is null,
                    CasCondition.ModIndexEquals => currentVersion.ModIndex == command.ExpectedModIndex,
                    _ => false,
                };
                if (holds) return Write(index, command, currentVersion, records);
                return new KvReply
                {
                    Status = KvStatus.CasFailed, Version = currentVersion,
                    // The cast matters: a bare null would convert to an empty Memory through byte[], reading as "empty value".
                    Value = current is null ? (ReadOnlyMemory<byte>?)null : current.AsMemory(RecordVersionBytes),
                };

            default:
                throw new InvalidOperationException($"not a write: {command.Type}");
        }
    }

    private static KvReply Write(ulong index, KvCommand command, KeyVersion currentVersion, IKvRecordStore records)
    {
        var version = new KeyVersion(currentVersion.Exists ? currentVersion.CreateIndex : index, index);
        records.Upsert(command.Key.Span, version, command.Value.Span, index);
        return new KvReply { Status = KvStatus.Ok, Version = version };
    }

    /// <summary>Bytes of versions in front of the value in a record.</summary>
    public const int RecordVersionBytes = 16;

    public static KeyVersion ParseVersion(ReadOnlySpan<byte> record) =>
        new(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(record),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(record[8..]));
}
