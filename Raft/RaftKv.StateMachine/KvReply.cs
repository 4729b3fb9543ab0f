namespace RaftKv.StateMachine;

/// <summary>How a command ended. Every outcome a client can expect is a status, never an exception.</summary>
public enum KvStatus : byte
{
    Ok = 0,

    /// <summary>Delete of a key that does not exist; nothing changed.</summary>
    NotFound = 1,

    /// <summary>The CompareAndSwap condition did not hold; the reply carries the key's current version and value.</summary>
    CasFailed = 2,

    /// <summary>The session timed out (in log time) or was never registered; register a new one.</summary>
    SessionExpired = 3,

    /// <summary>The session id cannot name a session: 0, or not below the index of the entry that carries it.</summary>
    UnknownSession = 4,

    /// <summary>The sequence number is below the session's last applied one; the original reply is gone.</summary>
    StaleSequence = 5,

    /// <summary>The command broke a limit (key or value size, empty key, missing sequence number).</summary>
    InvalidArgument = 6,

    /// <summary>The log entry could not be decoded as a command.</summary>
    MalformedCommand = 7,

    /// <summary>RegisterSession refused because <see cref="StateMachineOptions.MaxSessions"/> sessions are live.</summary>
    TooManySessions = 8,
}

/// <summary>
/// A key's version in log indices, as in etcd: <see cref="CreateIndex"/> is the index of the entry that created the
/// key (since it last did not exist), <see cref="ModIndex"/> the index of the entry that last modified it. Both are 0
/// for a key that does not exist.
/// </summary>
public readonly record struct KeyVersion(ulong CreateIndex, ulong ModIndex)
{
    public static readonly KeyVersion Absent = default;

    public bool Exists => ModIndex != 0;

    public override string ToString() => Exists ? $"create={CreateIndex} mod={ModIndex}" : "absent";
}

/// <summary>
/// The reply to one command. It is stored in the session table as the answer to a retry, so it must be a pure
/// function of the log.
/// </summary>
/// <remarks>
/// Wire format, little-endian, version 1:
/// <code>[version u8 = 1][status u8][sessionId u64][createIndex u64][modIndex u64][hasValue u8][valueLen u32][value]</code>
/// <list type="bullet">
/// <item>RegisterSession: <see cref="SessionId"/> is the new session's id.</item>
/// <item>Put and successful CompareAndSwap: <see cref="Version"/> is the key's new version.</item>
/// <item>Delete: <see cref="Version"/> is the version the key had before it was deleted.</item>
/// <item>CasFailed: <see cref="Version"/> and <see cref="Value"/> are the key's current version and value (no value if absent).</item>
/// <item>Errors: <see cref="Message"/> is not encoded; only the status travels.</item>
/// </list>
/// </remarks>
public sealed record KvReply
{
    public const byte FormatVersion = 1;
    private const int FixedBytes = 1 + 1 + 8 + 8 + 8 + 1 + 4;

    public required KvStatus Status { get; init; }

    public ulong SessionId { get; init; }

    public KeyVersion Version { get; init; }

    public ReadOnlyMemory<byte>? Value { get; init; }

    /// <summary>A human-readable reason for an error, for logs; not part of the encoding.</summary>
    public string Message { get; init; } = "";

    public bool Succeeded => Status == KvStatus.Ok;

    public static KvReply Error(KvStatus status, string message = "") => new() { Status = status, Message = message };

    public int EncodedLength => FixedBytes + (Value?.Length ?? 0);

    public byte[] Encode()
    {
        var bytes = new byte[EncodedLength];
        var writer = new SpanWriter(bytes);
        writer.Byte(FormatVersion);
        writer.Byte((byte)Status);
        writer.UInt64(SessionId);
        writer.UInt64(Version.CreateIndex);
        writer.UInt64(Version.ModIndex);
        writer.Byte(Value.HasValue ? (byte)1 : (byte)0);
        writer.Bytes(Value.HasValue ? Value.Value.Span : default);
        return bytes;
    }

    /// <summary>Decodes a reply; malformed bytes are reported as false. The value aliases <paramref name="bytes"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> bytes, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out KvReply? reply)
    {
        reply = null;
        var reader = new MemoryReader(bytes);
        if (!reader.Byte(out byte version) || version != FormatVersion) return false;
        if (!reader.Byte(out byte status) || status > (byte)KvStatus.TooManySessions) return false;
        if (!reader.UInt64(out ulong session) || !reader.UInt64(out ulong create) || !reader.UInt64(out ulong mod)) return false;
        if (!reader.Byte(out byte hasValue) || hasValue > 1 || !reader.Bytes(out var value) || !reader.AtEnd) return false;
        if (hasValue == 0 && value.Length != 0) return false;
        reply = new KvReply
        {
            Status = (KvStatus)status, SessionId = session, Version = new KeyVersion(create, mod),
            Value = hasValue == 1 ? value : (ReadOnlyMemory<byte>?)null,
        };
        return true;
    }

    public bool Equals(KvReply? other) =>
        other is not null && Status == other.Status && SessionId == other.SessionId && Version == other.Version &&
        Value.HasValue == other.Value.HasValue && (!Value.HasValue || Value.Value.Span.SequenceEqual(other.Value!.Value.Span));

    public override int GetHashCode() => HashCode.Combine(Status, SessionId, Version);

    public override string ToString() =>
        $"{Status} session={SessionId} {Version}" + (Value.HasValue ? $" value={Value.Value.Length}B" : "") +
        (Message.Length > 0 ? $" ({Message})" : "");
}
