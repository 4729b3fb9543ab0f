using RaftKv.Raft;

namespace RaftKv.StateMachine;

/// <summary>
/// The in-memory twin of <see cref="FasterKvStateMachine"/>, for the deterministic simulator: the same command codec
/// and apply semantics (<see cref="KvApply"/>: sessions, expiry, deduplication, CAS, revisions), the same session
/// table and the same canonical snapshot bytes, with the records in a sorted dictionary instead of FASTER. Nothing
/// here is durable; the simulator models FASTER's checkpoints by keeping a snapshot image of this machine as the
/// "last completed checkpoint" that survives a crash (it wraps this machine in an <see cref="IKvStateMachine"/>
/// whose checkpoints become durable as simulated events).
/// </summary>
/// <remarks>Single-threaded: every member runs on the caller's thread, snapshots included.</remarks>
public sealed class MemoryKvStateMachine : IStateMachine, IKvRecordStore
{
    private readonly StateMachineOptions _options;
    private readonly SessionTable _sessions = new();
    private readonly SortedDictionary<byte[], byte[]> _records = new(ByteArrayComparer.Instance);

    public MemoryKvStateMachine(StateMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid state machine options: " + string.Join(" ", errors), nameof(options));
        _options = options;
    }

    public ulong AppliedIndex { get; private set; }

    public StateMachineOptions Options => _options;

    public int SessionCount => _sessions.Count;

    public int KeyCount => _records.Count;

    public ReadOnlyMemory<byte> Apply(in LogEntry entry)
    {
        Invariant.Check(entry.Index == AppliedIndex + 1, $"entry {entry.Index} applied after {AppliedIndex}: entries must be applied in order without gaps");
        byte[] reply = entry.Type == EntryType.Command ? KvApply.Command(entry.Index, entry.Data, _sessions, _options, this).Encode() : [];
        AppliedIndex = entry.Index;
        return reply;
    }

    /// <summary>Reads a key from the applied state.</summary>
    public KvEntry? Get(ReadOnlyMemory<byte> key)
    {
        if (!_records.TryGetValue(key.ToArray(), out byte[]? record)) return null;
        return new KvEntry(key, record.AsMemory(KvApply.RecordVersionBytes), KvApply.ParseVersion(record));
    }

    /// <summary>Up to <paramref name="limit"/> live keys starting with <paramref name="prefix"/>, in ascending byte order (as FASTER's scan).</summary>
    public IReadOnlyList<KvEntry> Scan(ReadOnlyMemory<byte> prefix, int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var result = new List<KvEntry>();
        foreach ((byte[] key, byte[] record) in _records)
        {
            if (result.Count >= limit) break;
            if (!key.AsSpan().StartsWith(prefix.Span)) continue;
            result.Add(new KvEntry(key, record.AsMemory(KvApply.RecordVersionBytes), KvApply.ParseVersion(record)));
        }
        return result;
    }

    public IStateMachineSnapshot TakeSnapshot() =>
        new Image(AppliedIndex, _sessions.Capture(), [.. _records.Select(p => (p.Key, p.Value))]);

    /// <summary>The canonical snapshot bytes of the current state (equal on replicas with equal state).</summary>
    public byte[] SnapshotBytes()
    {
        using var image = TakeSnapshot();
        using var bytes = new MemoryStream();
        image.WriteTo(bytes);
        return bytes.ToArray();
    }

    public void Restore(ulong index, Stream snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var records = new List<(byte[] Key, byte[] Record)>();
        SessionTableImage sessions = KvSnapshotFormat.Read(snapshot, index, _options, (key, version, value) =>
            records.Add((key, Record(version, value))));
        _records.Clear();
        foreach ((byte[] key, byte[] record) in records) _records.Add(key, record);
        _sessions.Load(sessions);
        AppliedIndex = index;
    }

    public void Dispose()
    {
    }

    byte[]? IKvRecordStore.Read(ReadOnlySpan<byte> key, ulong index) => _records.GetValueOrDefault(key.ToArray());

    KeyVersion IKvRecordStore.ReadVersion(ReadOnlySpan<byte> key, ulong index) =>
        ((IKvRecordStore)this).Read(key, index) is { } record ? KvApply.ParseVersion(record) : KeyVersion.Absent;

    void IKvRecordStore.Upsert(ReadOnlySpan<byte> key, KeyVersion version, ReadOnlySpan<byte> value, ulong index) =>
        _records[key.ToArray()] = Record(version, value);

    void IKvRecordStore.Delete(ReadOnlySpan<byte> key, ulong index) => _records.Remove(key.ToArray());

    private static byte[] Record(KeyVersion version, ReadOnlySpan<byte> value)
    {
        var record = new byte[KvApply.RecordVersionBytes + value.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(record, version.CreateIndex);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), version.ModIndex);
        value.CopyTo(record.AsSpan(KvApply.RecordVersionBytes));
        return record;
    }

    private sealed class Image(ulong index, SessionTableImage sessions, (byte[] Key, byte[] Record)[] records) : IStateMachineSnapshot
    {
        public ulong Index => index;

        public void WriteTo(Stream destination)
        {
            using var writer = new KvSnapshotWriter(destination, index, sessions, (ulong)records.Length);
            foreach ((byte[] key, byte[] record) in records) writer.WriteRecord(key, record);
            writer.Finish();
        }

        public void Dispose()
        {
        }
    }
}
