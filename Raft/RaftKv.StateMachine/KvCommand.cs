using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace RaftKv.StateMachine;

/// <summary>What a replicated command does.</summary>
public enum KvCommandType : byte
{
    /// <summary>Creates a session; its id becomes the index of the log entry that carries this command (Raft thesis 6.3).</summary>
    RegisterSession = 1,

    /// <summary>Refreshes a session's activity; with session id 0 it only advances the log clock.</summary>
    KeepAlive = 2,

    Put = 3,
    Delete = 4,

    /// <summary>Writes <see cref="KvCommand.Value"/> only if <see cref="KvCommand.Condition"/> holds for the key's current state.</summary>
    CompareAndSwap = 5,
}

/// <summary>The precondition of a <see cref="KvCommandType.CompareAndSwap"/>.</summary>
public enum CasCondition : byte
{
    None = 0,

    /// <summary>The key exists and its value equals <see cref="KvCommand.ExpectedValue"/> byte for byte.</summary>
    ValueEquals = 1,

    /// <summary>The key does not exist.</summary>
    Absent = 2,

    /// <summary>The key's modification index equals <see cref="KvCommand.ExpectedModIndex"/> (0 means "absent").</summary>
    ModIndexEquals = 3,
}

/// <summary>
/// One client command as it travels through the Raft log. Every write carries the (session, sequence) pair that makes
/// it exactly-once, and every command carries the timestamp the proposing gateway assigned; that timestamp is the only
/// clock the state machine ever reads.
/// </summary>
/// <remarks>
/// Wire format, little-endian, version 1:
/// <code>
/// [version u8 = 1][type u8][sessionId u64][sequence u64][timestampMs i64]
/// Put:            [keyLen u32][key][valueLen u32][value]
/// Delete:         [keyLen u32][key]
/// CompareAndSwap: [keyLen u32][key][condition u8][expectedLen u32][expected] or [expectedModIndex u64] or nothing,
///                 then [valueLen u32][value]
/// RegisterSession, KeepAlive: nothing more
/// </code>
/// Decoding is strict: unknown versions, types or conditions, truncated fields and trailing bytes are all rejected.
/// </remarks>
public sealed record KvCommand
{
    public const byte FormatVersion = 1;
    private const int HeaderBytes = 1 + 1 + 8 + 8 + 8;

    public required KvCommandType Type { get; init; }

    /// <summary>The session the command belongs to; 0 for <see cref="KvCommandType.RegisterSession"/>.</summary>
    public ulong SessionId { get; init; }

    /// <summary>Per-session sequence number, at least 1 for writes; ignored (0) for RegisterSession and KeepAlive.</summary>
    public ulong Sequence { get; init; }

    /// <summary>Milliseconds on the proposing gateway's clock (Unix epoch); drives session expiry.</summary>
    public long TimestampMs { get; init; }

    public ReadOnlyMemory<byte> Key { get; init; }

    /// <summary>The value to write (Put, CompareAndSwap).</summary>
    public ReadOnlyMemory<byte> Value { get; init; }

    public CasCondition Condition { get; init; }

    public ReadOnlyMemory<byte> ExpectedValue { get; init; }

    public ulong ExpectedModIndex { get; init; }

    public static KvCommand RegisterSession(long timestampMs) =>
        new() { Type = KvCommandType.RegisterSession, TimestampMs = timestampMs };

    public static KvCommand KeepAlive(ulong sessionId, long timestampMs) =>
        new() { Type = KvCommandType.KeepAlive, SessionId = sessionId, TimestampMs = timestampMs };

    public static KvCommand Put(ulong sessionId, ulong sequence, long timestampMs, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value) =>
        new() { Type = KvCommandType.Put, SessionId = sessionId, Sequence = sequence, TimestampMs = timestampMs, Key = key, Value = value };

    public static KvCommand Delete(ulong sessionId, ulong sequence, long timestampMs, ReadOnlyMemory<byte> key) =>
        new() { Type = KvCommandType.Delete, SessionId = sessionId, Sequence = sequence, TimestampMs = timestampMs, Key = key };

    public static KvCommand CompareValueAndSwap(ulong sessionId, ulong sequence, long timestampMs, ReadOnlyMemory<byte> key,
        ReadOnlyMemory<byte> expectedValue, ReadOnlyMemory<byte> newValue) =>
        new()
        {
            Type = KvCommandType.CompareAndSwap, SessionId = sessionId, Sequence = sequence, TimestampMs = timestampMs, Key = key,
            Condition = CasCondition.ValueEquals, ExpectedValue = expectedValue, Value = newValue,
        };

    public static KvCommand CreateIfAbsent(ulong sessionId, ulong sequence, long timestampMs, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> newValue) =>
        new()
        {
            Type = KvCommandType.CompareAndSwap, SessionId = sessionId, Sequence = sequence, TimestampMs = timestampMs, Key = key,
            Condition = CasCondition.Absent, Value = newValue,
        };

    public static KvCommand CompareModIndexAndSwap(ulong sessionId, ulong sequence, long timestampMs, ReadOnlyMemory<byte> key,
        ulong expectedModIndex, ReadOnlyMemory<byte> newValue) =>
        new()
        {
            Type = KvCommandType.CompareAndSwap, SessionId = sessionId, Sequence = sequence, TimestampMs = timestampMs, Key = key,
            Condition = CasCondition.ModIndexEquals, ExpectedModIndex = expectedModIndex, Value = newValue,
        };

    /// <summary>True for the commands that change keys and therefore need a session and a sequence number.</summary>
    public bool IsWrite => Type is KvCommandType.Put or KvCommandType.Delete or KvCommandType.CompareAndSwap;

    /// <summary>
    /// Checks the command against the limits. The gateway calls this before proposing; Apply calls it again, because
    /// the log may hold commands from a gateway with a bug. Returns <see cref="KvStatus.Ok"/> or
    /// <see cref="KvStatus.InvalidArgument"/> with a reason.
    /// </summary>
    public KvValidation Validate(StateMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        switch (Type)
        {
            case KvCommandType.RegisterSession:
                return SessionId == 0 && Sequence == 0
                    ? KvValidation.Valid
                    : KvValidation.Invalid("RegisterSession carries no session id or sequence number");
            case KvCommandType.KeepAlive:
                return Sequence == 0 ? KvValidation.Valid : KvValidation.Invalid("KeepAlive carries no sequence number");
            case KvCommandType.Put or KvCommandType.Delete or KvCommandType.CompareAndSwap:
                break;
            default:
                return KvValidation.Invalid($"unknown command type {(byte)Type}");
        }
        if (SessionId == 0) return KvValidation.Invalid("a write needs a session id");
        if (Sequence == 0) return KvValidation.Invalid("a write needs a sequence number of at least 1");
        if (Key.Length == 0) return KvValidation.Invalid("the key is empty");
        if (Key.Length > options.MaxKeyBytes) return KvValidation.Invalid($"the key is {Key.Length} bytes; the limit is {options.MaxKeyBytes}");
        if (Type == KvCommandType.Delete)
        {
            return Value.Length == 0 && Condition == CasCondition.None ? KvValidation.Valid : KvValidation.Invalid("Delete carries only a key");
        }
        if (Value.Length > options.MaxValueBytes) return KvValidation.Invalid($"the value is {Value.Length} bytes; the limit is {options.MaxValueBytes}");
        if (Type == KvCommandType.Put)
        {
            return Condition == CasCondition.None ? KvValidation.Valid : KvValidation.Invalid("Put carries no condition");
        }
        return Condition switch
        {
            CasCondition.ValueEquals when ExpectedValue.Length > options.MaxValueBytes =>
                KvValidation.Invalid($"the expected value is {ExpectedValue.Length} bytes; the limit is {options.MaxValueBytes}"),
            CasCondition.ValueEquals => KvValidation.Valid,
            CasCondition.Absent or CasCondition.ModIndexEquals => KvValidation.Valid,
            _ => KvValidation.Invalid("CompareAndSwap needs a condition"),
        };
    }

    public int EncodedLength => HeaderBytes + Type switch
    {
        KvCommandType.Put => 4 + Key.Length + 4 + Value.Length,
        KvCommandType.Delete => 4 + Key.Length,
        KvCommandType.CompareAndSwap => 4 + Key.Length + 1 + Condition switch
        {
            CasCondition.ValueEquals => 4 + ExpectedValue.Length,
            CasCondition.ModIndexEquals => 8,
            _ => 0,
        } + 4 + Value.Length,
        _ => 0,
    };

    public byte[] Encode()
    {
        var bytes = new byte[EncodedLength];
        Encode(bytes);
        return bytes;
    }

    /// <summary>Writes the command into <paramref name="destination"/>, which must hold <see cref="EncodedLength"/> bytes.</summary>
    public void Encode(Span<byte> destination)
    {
        if (destination.Length < EncodedLength) throw new ArgumentException("destination is too small", nameof(destination));
        var writer = new SpanWriter(destination);
        writer.Byte(FormatVersion);
        writer.Byte((byte)Type);
        writer.UInt64(SessionId);
        writer.UInt64(Sequence);
        writer.Int64(TimestampMs);
        switch (Type)
        {
            case KvCommandType.Put:
                writer.Bytes(Key.Span);
                writer.Bytes(Value.Span);
                break;
            case KvCommandType.Delete:
                writer.Bytes(Key.Span);
                break;
            case KvCommandType.CompareAndSwap:
                writer.Bytes(Key.Span);
                writer.Byte((byte)Condition);
                if (Condition == CasCondition.ValueEquals) writer.Bytes(ExpectedValue.Span);
                else if (Condition == CasCondition.ModIndexEquals) writer.UInt64(ExpectedModIndex);
                writer.Bytes(Value.Span);
                break;
        }
    }

    /// <summary>
    /// Decodes a command. Malformed input is an expected outcome (the log can carry anything a buggy gateway
    /// proposed), so it is reported as false, never thrown. The decoded command's byte fields alias
    /// <paramref name="bytes"/>.
    /// </summary>
    public static bool TryDecode(ReadOnlyMemory<byte> bytes, [NotNullWhen(true)] out KvCommand? command, out string error)
    {
        command = null;
        var reader = new MemoryReader(bytes);
        if (!reader.Byte(out byte version)) { error = "empty command"; return false; }
        if (version != FormatVersion) { error = $"unknown command format version {version}"; return false; }
        if (!reader.Byte(out byte type) || !reader.UInt64(out ulong session) || !reader.UInt64(out ulong sequence) || !reader.Int64(out long timestamp))
        {
            error = "truncated command header";
            return false;
        }
        ReadOnlyMemory<byte> key = default, value = default, expected = default;
        ulong expectedModIndex = 0;
        var condition = CasCondition.None;
        switch ((KvCommandType)type)
        {
            case KvCommandType.RegisterSession or KvCommandType.KeepAlive:
                break;
            case KvCommandType.Put:
                if (!reader.Bytes(out key) || !reader.Bytes(out value)) { error = "truncated Put"; return false; }
                break;
            case KvCommandType.Delete:
                if (!reader.Bytes(out key)) { error = "truncated Delete"; return false; }
                break;
            case KvCommandType.CompareAndSwap:
                if (!reader.Bytes(out key) || !reader.Byte(out byte conditionByte)) { error = "truncated CompareAndSwap"; return false; }
                condition = (CasCondition)conditionByte;
                bool ok = condition switch
                {
                    CasCondition.ValueEquals => reader.Bytes(out expected),
                    CasCondition.ModIndexEquals => reader.UInt64(out expectedModIndex),
                    CasCondition.Absent => true,
                    _ => false,
                };
                if (!ok) { error = $"bad or truncated CompareAndSwap condition {conditionByte}"; return false; }
                if (!reader.Bytes(out value)) { error = "truncated CompareAndSwap value"; return false; }
                break;
            default:
                error = $"unknown command type {type}";
                return false;
        }
        if (!reader.AtEnd) { error = "trailing bytes after command"; return false; }
        command = new KvCommand
        {
            Type = (KvCommandType)type, SessionId = session, Sequence = sequence, TimestampMs = timestamp, Key = key, Value = value,
            Condition = condition, ExpectedValue = expected, ExpectedModIndex = expectedModIndex,
        };
        error = "";
        return true;
    }

    public bool Equals(KvCommand? other) =>
        other is not null && Type == other.Type && SessionId == other.SessionId && Sequence == other.Sequence &&
        TimestampMs == other.TimestampMs && Key.Span.SequenceEqual(other.Key.Span) && Value.Span.SequenceEqual(other.Value.Span) &&
        Condition == other.Condition && ExpectedValue.Span.SequenceEqual(other.ExpectedValue.Span) && ExpectedModIndex == other.ExpectedModIndex;

    public override int GetHashCode() => HashCode.Combine(Type, SessionId, Sequence, TimestampMs, Key.Length, Value.Length, Condition);
}

/// <summary>The outcome of <see cref="KvCommand.Validate"/>: valid, or invalid with a reason for the client.</summary>
public readonly record struct KvValidation(bool IsValid, string Reason)
{
    public static readonly KvValidation Valid = new(true, "");

    public static KvValidation Invalid(string reason) => new(false, reason);
}

/// <summary>Little-endian writer over a span; the caller sized the span with the matching EncodedLength.</summary>
internal ref struct SpanWriter(Span<byte> destination)
{
    private readonly Span<byte> _destination = destination;
    private int _offset;

    public readonly int Written => _offset;

    public void Byte(byte value) => _destination[_offset++] = value;

    public void UInt32(uint value) { BinaryPrimitives.WriteUInt32LittleEndian(_destination[_offset..], value); _offset += 4; }

    public void UInt64(ulong value) { BinaryPrimitives.WriteUInt64LittleEndian(_destination[_offset..], value); _offset += 8; }

    public void Int64(long value) { BinaryPrimitives.WriteInt64LittleEndian(_destination[_offset..], value); _offset += 8; }

    /// <summary>A u32 length prefix then the bytes.</summary>
    public void Bytes(ReadOnlySpan<byte> value)
    {
        UInt32((uint)value.Length);
        value.CopyTo(_destination[_offset..]);
        _offset += value.Length;
    }
}

/// <summary>Little-endian reader that reports truncation as false instead of throwing.</summary>
internal struct MemoryReader(ReadOnlyMemory<byte> source)
{
    private readonly ReadOnlyMemory<byte> _source = source;
    private int _offset;

    public readonly bool AtEnd => _offset == _source.Length;

    private readonly int Remaining => _source.Length - _offset;

    public bool Byte(out byte value)
    {
        if (Remaining < 1) { value = 0; return false; }
        value = _source.Span[_offset++];
        return true;
    }

    public bool UInt32(out uint value)
    {
        if (Remaining < 4) { value = 0; return false; }
        value = BinaryPrimitives.ReadUInt32LittleEndian(_source.Span[_offset..]);
        _offset += 4;
        return true;
    }

    public bool UInt64(out ulong value)
    {
        if (Remaining < 8) { value = 0; return false; }
        value = BinaryPrimitives.ReadUInt64LittleEndian(_source.Span[_offset..]);
        _offset += 8;
        return true;
    }

    public bool Int64(out long value)
    {
        bool ok = UInt64(out ulong raw);
        value = (long)raw;
        return ok;
    }

    public bool Bytes(out ReadOnlyMemory<byte> value)
    {
        value = default;
        if (!UInt32(out uint length) || length > (uint)Remaining) return false;
        value = _source.Slice(_offset, (int)length);
        _offset += (int)length;
        return true;
    }
}
