using System.Buffers.Binary;

namespace RaftKv.StateMachine;

/// <summary>One client session: the last applied sequence number, its reply, and when (in log time) it was last active.</summary>
/// <remarks>Invariant: <see cref="LastReply"/> is never mutated after it is stored; snapshots share it.</remarks>
public readonly record struct SessionState(ulong LastSequence, long LastActiveMs, byte[] LastReply);

/// <summary>
/// The replicated client-session table (Raft thesis 6.3) and the log clock that expires its sessions. It is a small
/// side structure next to FASTER rather than records inside it: expiry needs the sessions ordered by last activity,
/// which FASTER cannot provide, and the table is captured whole into every checkpoint (as the FASTER commit cookie)
/// and every snapshot, at the same log index as the key-value state.
/// </summary>
/// <remarks>
/// Everything here is deterministic: sorted containers only, and time comes from command timestamps.
/// Invariant: <c>_byActivity</c> holds exactly one (LastActiveMs, id) pair per entry of <c>_sessions</c>.
/// Invariant: <see cref="ClockMs"/> never decreases, even when a new leader's clock is behind the old one's.
/// </remarks>
internal sealed class SessionTable
{
    private const byte FormatVersion = 1;

    private readonly SortedDictionary<ulong, SessionState> _sessions = [];
    private readonly SortedSet<(long LastActiveMs, ulong Id)> _byActivity = [];

    /// <summary>The highest command timestamp applied so far.</summary>
    public long ClockMs { get; private set; } = long.MinValue;

    public int Count => _sessions.Count;

    /// <summary>Moves the log clock forward to <paramref name="timestampMs"/> and expires every session idle longer than the timeout.</summary>
    public void AdvanceClock(long timestampMs, long sessionTimeoutMs)
    {
        if (timestampMs > ClockMs) ClockMs = timestampMs;
        while (_byActivity.Count > 0)
        {
            var oldest = _byActivity.Min;
            // Idle time computed without overflow: expire when ClockMs - LastActiveMs > timeout.
            if (ClockMs - sessionTimeoutMs <= oldest.LastActiveMs) break;
            _byActivity.Remove(oldest);
            _sessions.Remove(oldest.Id);
        }
    }

    public bool TryGet(ulong id, out SessionState state) => _sessions.TryGetValue(id, out state);

    public void Register(ulong id)
    {
        var state = new SessionState(0, ClockMs, []);
        _sessions.Add(id, state);
        _byActivity.Add((state.LastActiveMs, id));
    }

    /// <summary>Marks the session active at the current log clock and, when <paramref name="reply"/> is given, records the applied sequence number.</summary>
    public void Update(ulong id, ulong? appliedSequence = null, byte[]? reply = null)
    {
        var old = _sessions[id];
        var updated = appliedSequence is { } sequence
            ? new SessionState(sequence, ClockMs, reply ?? [])
            : old with { LastActiveMs = ClockMs };
        _byActivity.Remove((old.LastActiveMs, id));
        _byActivity.Add((updated.LastActiveMs, id));
        _sessions[id] = updated;
    }

    /// <summary>A point-in-time copy, sorted by id, that can be encoded on another thread.</summary>
    public SessionTableImage Capture() => new(ClockMs, _sessions.Select(p => (p.Key, p.Value)).ToArray());

    public void Clear()
    {
        _sessions.Clear();
        _byActivity.Clear();
        ClockMs = long.MinValue;
    }

    public void Load(SessionTableImage image)
    {
        Clear();
        ClockMs = image.ClockMs;
        foreach (var (id, state) in image.Sessions)
        {
            _sessions.Add(id, state);
            _byActivity.Add((state.LastActiveMs, id));
        }
    }

    /// <summary>
    /// Encoding, little-endian: [version u8][clockMs i64][count u32] then per session, ascending id:
    /// [id u64][lastSequence u64][lastActiveMs i64][replyLen u32][reply].
    /// </summary>
    public static void WriteTo(SessionTableImage image, Stream destination)
    {
        Span<byte> header = stackalloc byte[1 + 8 + 4];
        header[0] = FormatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(header[1..], image.ClockMs);
        BinaryPrimitives.WriteUInt32LittleEndian(header[9..], (uint)image.Sessions.Length);
        destination.Write(header);
        Span<byte> fixedPart = stackalloc byte[8 + 8 + 8 + 4];
        foreach (var (id, state) in image.Sessions)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(fixedPart, id);
            BinaryPrimitives.WriteUInt64LittleEndian(fixedPart[8..], state.LastSequence);
            BinaryPrimitives.WriteInt64LittleEndian(fixedPart[16..], state.LastActiveMs);
            BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[24..], (uint)state.LastReply.Length);
            destination.Write(fixedPart);
            destination.Write(state.LastReply);
        }
    }

    public static SessionTableImage ReadFrom(Stream source)
    {
        Span<byte> header = stackalloc byte[1 + 8 + 4];
        source.ReadExactly(header);
        if (header[0] != FormatVersion) throw new InvalidDataException($"unknown session table format version {header[0]}");
        long clock = BinaryPrimitives.ReadInt64LittleEndian(header[1..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(header[9..]);
        var sessions = new List<(ulong, SessionState)>();
        Span<byte> fixedPart = stackalloc byte[8 + 8 + 8 + 4];
        ulong previousId = 0;
        for (uint i = 0; i < count; i++)
        {
            source.ReadExactly(fixedPart);
            ulong id = BinaryPrimitives.ReadUInt64LittleEndian(fixedPart);
            if (id <= previousId) throw new InvalidDataException("session ids are not strictly ascending");
            previousId = id;
            uint replyLength = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[24..]);
            if (replyLength > 64 * 1024 * 1024) throw new InvalidDataException("session reply is implausibly large");
            var reply = new byte[replyLength];
            source.ReadExactly(reply);
            sessions.Add((id, new SessionState(
                BinaryPrimitives.ReadUInt64LittleEndian(fixedPart[8..]), BinaryPrimitives.ReadInt64LittleEndian(fixedPart[16..]), reply)));
        }
        return new SessionTableImage(clock, sessions.ToArray());
    }
}

/// <summary>An immutable copy of the session table, ascending by session id.</summary>
internal sealed record SessionTableImage(long ClockMs, (ulong Id, SessionState State)[] Sessions)
{
    public static readonly SessionTableImage Empty = new(long.MinValue, []);
}
