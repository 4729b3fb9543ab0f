using System.Buffers.Binary;
using FASTER.core;
using RaftKv.Raft;

namespace RaftKv.StateMachine;

using KvSession = ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>>;

/// <summary>A key's value and version as read from the applied state.</summary>
public sealed record KvEntry(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> Value, KeyVersion Version);

/// <summary>What a checkpoint made durable: the store in the data directory reflects exactly the log prefix through <see cref="AppliedIndex"/>.</summary>
public readonly record struct CheckpointResult(bool Succeeded, ulong AppliedIndex, string Error = "");

/// <summary>
/// The replicated key-value state machine over FASTER. FASTER holds the applied key-value state, and nothing else
/// does; the client-session table and the log clock are a small side structure captured with every checkpoint and
/// snapshot.
/// </summary>
/// <remarks>
/// Threads: <see cref="Apply"/>, <see cref="CheckpointAsync"/>, <see cref="TakeSnapshot"/>, <see cref="Restore"/> and
/// <see cref="Dispose"/> run on the apply thread only. <see cref="Get"/>, <see cref="Scan"/>, <see cref="AppliedIndex"/>
/// and <see cref="IStateMachineSnapshot.WriteTo"/> may run on any thread, concurrently with it.
/// Durability contract: after <see cref="CheckpointAsync"/>'s task reports success with index i, reopening the data
/// directory yields exactly the state after applying entries 1..i (and the session table at i), whatever happened
/// afterwards; entries after i must be re-applied by the driver. Nothing applied after the last successful checkpoint
/// survives a crash.
/// Invariant: AppliedIndex only grows, by exactly one per Apply, except through Restore.
/// </remarks>
public sealed partial class FasterKvStateMachine : IKvStateMachine, IKvRecordStore
{
    private const string CurrentFileName = "CURRENT";
    private const byte CookieFormatVersion = 1;

    private readonly string _directory;
    private readonly StateMachineOptions _options;
    private readonly SessionTable _sessions = new();
    private volatile FasterStore _store;
    private KvSession _applySession;
    private long _appliedIndex;
    private Task<CheckpointResult>? _checkpointInFlight;
    private bool _disposed;
    private volatile bool _disposeRequested;

    private FasterKvStateMachine(string directory, StateMachineOptions options, FasterStore store)
    {
        _directory = directory;
        _options = options;
        _store = store;
        _applySession = store.NewSession();
    }

    public ulong AppliedIndex => (ulong)Volatile.Read(ref _appliedIndex);

    public StateMachineOptions Options => _options;

    /// <summary>Number of live client sessions (apply thread only).</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Bytes in FASTER's hybrid log, from its begin address to its tail (memory and disk); for monitoring.</summary>
    public long LogSizeBytes
    {
        get
        {
            FasterStore store = _store;
            return store.Kv.Log.TailAddress - store.Kv.Log.BeginAddress;
        }
    }

    /// <summary>
    /// Opens the state machine stored in <paramref name="directory"/>: recovers the latest completed checkpoint, or
    /// starts empty (AppliedIndex 0) when there is none. The driver then re-applies committed entries after
    /// <see cref="AppliedIndex"/>.
    /// </summary>
    public static FasterKvStateMachine Open(string directory, StateMachineOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid state machine options: " + string.Join(" ", errors), nameof(options));

        Directory.CreateDirectory(directory);
        string currentPath = Path.Combine(directory, CurrentFileName);
        string generation = File.Exists(currentPath) ? File.ReadAllText(currentPath).Trim() : GenerationName(1);
        if (!File.Exists(currentPath)) WriteCurrent(directory, generation);
        // Directories of other generations are leftovers of a Restore that crashed before or after switching CURRENT.
        foreach (string stale in Directory.EnumerateDirectories(directory, "store-*"))
        {
            if (Path.GetFileName(stale) != generation) Directory.Delete(stale, recursive: true);
        }

        var store = FasterStore.Create(Path.Combine(directory, generation), options);
        ulong applied = 0;
        var sessions = SessionTableImage.Empty;
        if (store.HasCheckpoint)
        {
            store.Kv.Recover();
            (applied, sessions) = DecodeCookie(store.Kv.RecoveredCommitCookie ??
                throw new InvalidDataException("the recovered FASTER checkpoint has no commit cookie"));
        }
        var machine = new FasterKvStateMachine(directory, options, store);
        machine._sessions.Load(sessions);
        machine._appliedIndex = (long)applied;
        return machine;
    }

    public ReadOnlyMemory<byte> Apply(in LogEntry entry)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Invariant.Check(entry.Index == AppliedIndex + 1, $"entry {entry.Index} applied after {AppliedIndex}: entries must be applied in order without gaps");
        byte[] reply = entry.Type == EntryType.Command ? ApplyCommand(entry.Index, entry.Data).Encode() : [];
        Volatile.Write(ref _appliedIndex, (long)entry.Index);
        return reply;
    }

    /// <summary>
    /// Reads a key from the applied state. Thread-safe; reflects some applied index at or after the one observed
    /// before the call (callers serving ReadIndex reads wait for <see cref="AppliedIndex"/> first).
    /// </summary>
    public KvEntry? Get(ReadOnlyMemory<byte> key)
    {
        if (key.Length == 0 || key.Length > _options.MaxKeyBytes) return null;
        var store = AcquireStore();
        var session = store.RentReader();
        try
        {
            byte[]? record = store.Read(session, key.Span, 0);
            return record is null ? null : new KvEntry(key, record.AsMemory(FasterStore.VersionBytes), FasterStore.ParseVersion(record));
        }
        finally
        {
            store.ReturnReader(session);
            store.Release();
        }
    }

    /// <summary>
    /// Up to <paramref name="limit"/> live keys starting with <paramref name="prefix"/>, in ascending byte order.
    /// FASTER has no ordered index, so this is a full scan of the hybrid log (memory and disk) that collects the
    /// matching keys, then reads each one: cost grows with the log size, not the result size, and the result is not
    /// a point-in-time view across keys (each key is individually current). Meant for tools and tests, not hot paths.
    /// </summary>
    public IReadOnlyList<KvEntry> Scan(ReadOnlyMemory<byte> prefix, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        EnterLogScan();
        var store = AcquireStore();
        try
        {
            var keys = new HashSet<byte[]>(ByteArrayComparer.Instance);
            using (var iterator = store.Kv.Log.Scan(store.Kv.Log.BeginAddress, store.Kv.Log.TailAddress))
            {
                while (iterator.GetNext(out _))
                {
                    var key = iterator.GetKey().AsReadOnlySpan();
                    if (key.StartsWith(prefix.Span)) keys.Add(key.ToArray());
                }
            }
            var result = new List<KvEntry>();
            foreach (byte[] key in keys.Order(ByteArrayComparer.Instance))
            {
                if (result.Count >= limit) break;
                if (Get(key) is { } entry) result.Add(entry);
            }
            return result;
        }
        finally
        {
            store.Release();
            ExitLogScan();
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        lock (_compactionGate)
        {
            _disposeRequested = true;
            WaitWhileCompacting();
        }
        _disposed = true;
        WaitForCheckpoint();
        _applySession.Dispose();
        _store.Retire(deleteDirectory: false);
    }

    private FasterStore AcquireStore()
    {
        while (true)
        {
            var store = _store;
            if (store.TryAcquire()) return store;
            ObjectDisposedException.ThrowIf(_disposed, this);
            // The store was retired by Restore between the read and the acquire; the next read sees its successor.
        }
    }

    private static string GenerationName(long generation) => $"store-{generation:D6}";

    /// <summary>
    /// Points CURRENT at <paramref name="generation"/>. The new file's bytes are synced but its directory is not, so a
    /// power loss may undo the rename (or lose the new generation's directory entries). That is enough because the
    /// state machine is never the only copy: the store then opens the older generation or an empty one, its applied
    /// index is below the WAL's snapshot, and the driver restores that snapshot again before it replays the log
    /// (RaftDriver's constructor).
    /// </summary>
    private static void WriteCurrent(string directory, string generation)
    {
        string temporary = Path.Combine(directory, CurrentFileName + ".tmp");
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(generation));
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, Path.Combine(directory, CurrentFileName), overwrite: true);
    }

    private static byte[] EncodeCookie(ulong appliedIndex, SessionTableImage sessions)
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(CookieFormatVersion);
        Span<byte> index = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(index, appliedIndex);
        buffer.Write(index);
        SessionTable.WriteTo(sessions, buffer);
        return buffer.ToArray();
    }

    private static (ulong AppliedIndex, SessionTableImage Sessions) DecodeCookie(byte[] cookie)
    {
        using var buffer = new MemoryStream(cookie, writable: false);
        if (buffer.ReadByte() != CookieFormatVersion) throw new InvalidDataException("unknown checkpoint cookie format");
        Span<byte> index = stackalloc byte[8];
        buffer.ReadExactly(index);
        var sessions = SessionTable.ReadFrom(buffer);
        if (buffer.Position != buffer.Length) throw new InvalidDataException("trailing bytes in checkpoint cookie");
        return (BinaryPrimitives.ReadUInt64LittleEndian(index), sessions);
    }
}

/// <summary>
/// Ordinal byte-wise order and content equality for keys; a dictionary keyed by <c>byte[]</c> can also be looked up
/// with a span (<see cref="Dictionary{TKey, TValue}.GetAlternateLookup{TAlternateKey}"/>), so a key is copied to an
/// array only when it is added.
/// </summary>
internal sealed class ByteArrayComparer : IComparer<byte[]>, IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ByteArrayComparer Instance = new();

    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj) => GetHashCode(obj.AsSpan());

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate)
    {
        var hash = new HashCode();
        hash.AddBytes(alternate);
        return hash.ToHashCode();
    }

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}
