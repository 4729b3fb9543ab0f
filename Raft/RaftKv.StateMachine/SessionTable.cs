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
/// Everything here is deterministic: time comes from command timestamps, and whatever leaves the table (captures,
/// expiry) comes out in an order fixed by the table's contents, never by hashing.
/// Sessions are looked up by id in a hash map (every command looks its session up) and kept in a list ordered by last
/// activity, oldest first. A session touched is stamped with the log clock, which never decreases, so it moves to
/// the list's end and the list stays ordered without a search; expiry takes from the front. Sessions active at the
/// same log time may sit in either order, which changes nothing: expiry removes all of them or none.
/// Invariant: <c>_byActivity</c> holds exactly the sessions of <c>_sessions</c> (each map entry is its list node), in
/// non-decreasing LastActiveMs order.
/// Invariant: <see cref="ClockMs"/> never decreases, even when a new leader's clock is behind the old one's.
/// </remarks>
internal sealed class SessionTable
{
    private const byte FormatVersion = 1;

    private readonly Dictionary<ulong, LinkedListNode<(ulong Id, SessionState State)>> _sessions = [];
    private readonly LinkedList<(ulong Id, SessionState State)> _byActivity = new();

    /// <summary>The highest command timestamp applied so far.</summary>
    public long ClockMs { get; private set; } = long.MinValue;

    public int Count => _sessions.Count;

    /// <summary>Moves the log clock forward to <paramref name="timestampMs"/> and expires every session idle longer than the timeout.</summary>
    public void AdvanceClock(long timestampMs, long sessionTimeoutMs)
    {
        if (timestampMs > ClockMs) ClockMs = timestampMs;
        while (_byActivity.First is { } oldest)
        {
            // Idle time computed without overflow: expire when ClockMs - LastActiveMs > timeout.
            if (ClockMs - sessionTimeoutMs <= oldest.Value.State.LastActiveMs) break;
            _byActivity.RemoveFirst();
            _sessions.Remove(oldest.Value.Id);
        }
    }

    public bool TryGet(ulong id, out SessionState state)
    {
        if (_sessions.TryGetValue(id, out var node))
        {
            state = node.Value.State;
            return true;
        }
        state = default;
        return false;
    }

    public void Register(ulong id)
    {
        if (_sessions.ContainsKey(id)) throw new ArgumentException($"session {id} is already registered", nameof(id));
        _sessions.Add(id, _byActivity.AddLast((id, new SessionState(0, ClockMs, []))));
    }

    /// <summary>Marks the session active at the current log clock and, when <paramref name="reply"/> is given, records the applied sequence number.</summary>
    public void Update(ulong id, ulong? appliedSequence = null, byte[]? reply = null)
    {
        var node = _sessions[id];
        var old = node.Value.State;
        node.Value = (id, appliedSequence is { } sequence
            ? new SessionState(sequence, ClockMs, reply ?? [])
            : old with { LastActiveMs = ClockMs });
        // Stamped with the clock, which is at least every other session's last activity: it belongs at the end.
        _byActivity.Remove(node);
        _byActivity.AddLast(node);
    }

    /// <summary>A point-in-time copy, sorted by id, that can be encoded on another thread.</summary>
    public SessionTableImage Capture()
    {
        var sessions = new (ulong Id, SessionState State)[_sessions.Count];
        int i = 0;
        foreach (var session in _byActivity) sessions[i++] = session;
        Array.Sort(sessions, static (a, b) => a.Id.CompareTo(b.Id));
        return new SessionTableImage(ClockMs, sessions);
    }

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
        // Oldest activity first (ties by id, though any order of equal times would do).
        foreach (var (id, state) in image.Sessions.OrderBy(s => s.State.LastActiveMs).ThenBy(s => s.Id))
        {
            _sessions.Add(id, _byActivity.AddLast((id, state)));
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
