using System.Buffers.Binary;
using System.Security.Cryptography;
using FASTER.core;

namespace RaftKv.StateMachine;

public sealed partial class FasterKvStateMachine
{
    /// <summary>
    /// Captures the state at <see cref="AppliedIndex"/> in O(sessions) on the apply thread; the bytes are produced by
    /// <see cref="IStateMachineSnapshot.WriteTo"/> on any thread while Apply goes on.
    /// </summary>
    /// <remarks>
    /// Consistency: the capture notes the FASTER log tail T and moves the log's read-only boundary up to T. From then
    /// on no record below T is ever changed in place (FASTER appends every later update, delete and copy at or above
    /// T), and nothing truncates the log while the snapshot holds its lease on the store. So the latest record of each
    /// key below T is that key's value at the captured index, and a raw scan of [begin, T) reproduces exactly that
    /// state. The session table is copied at the same moment.
    /// Format (little-endian), canonical so that replicas with equal state produce equal bytes whatever their FASTER
    /// log layout: "RKVSNAP1", appliedIndex u64, session table (see <see cref="SessionTable.WriteTo"/>), key count u64,
    /// then per key in ascending byte order [keyLen u32][key][createIndex u64][modIndex u64][valueLen u32][value],
    /// then the SHA-256 of everything before it.
    /// </remarks>
    public IStateMachineSnapshot TakeSnapshot()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // The image scans the log from its begin address: no compaction may move that until the image is disposed.
        EnterLogScan();
        var store = AcquireStore();
        long tail = store.Kv.Log.TailAddress;
        store.Kv.Log.ShiftReadOnlyAddress(tail, wait: false);
        return new FasterSnapshot(this, store, store.Kv.Log.BeginAddress, tail, AppliedIndex, _sessions.Capture());
    }

    /// <summary>
    /// Replaces the whole state (keys and sessions) with a snapshot made by <see cref="IStateMachineSnapshot.WriteTo"/>.
    /// The snapshot is loaded into a fresh FASTER store in a new directory and checkpointed there; only then does the
    /// data directory switch to it, so a crash in the middle leaves the previous state intact. Corrupt or mismatched
    /// bytes throw <see cref="InvalidDataException"/> and change nothing.
    /// </summary>
    public void Restore(ulong index, Stream snapshot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(snapshot);
        WaitForCheckpoint();
        lock (_compactionGate) WaitWhileCompacting();

        string current = Path.GetFileName(_store.Directory_);
        long generation = long.Parse(current["store-".Length..], System.Globalization.CultureInfo.InvariantCulture) + 1;
        string name = GenerationName(generation);
        var fresh = FasterStore.Create(Path.Combine(_directory, name), _options);
        var session = fresh.NewSession();
        SessionTableImage sessions;
        try
        {
            sessions = Load(index, snapshot, session);
            fresh.Kv.CommitCookie = EncodeCookie(index, sessions);
            bool started = fresh.Kv.TryInitiateFullCheckpoint(out _, CheckpointType.FoldOver);
            Raft.Invariant.Check(started, "a brand-new FASTER store refused a checkpoint");
            fresh.Kv.CompleteCheckpointAsync().AsTask().GetAwaiter().GetResult();
        }
        catch
        {
            session.Dispose();
            fresh.Retire(deleteDirectory: true);
            throw;
        }

        WriteCurrent(_directory, name);
        var old = _store;
        var oldSession = _applySession;
        _store = fresh;
        _applySession = session;
        _checkpointInFlight = null;
        oldSession.Dispose();
        old.Retire(deleteDirectory: true);
        _sessions.Load(sessions);
        Volatile.Write(ref _appliedIndex, (long)index);
    }

    private SessionTableImage Load(ulong index, Stream snapshot, ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>> session) =>
        KvSnapshotFormat.Read(snapshot, index, _options, (key, version, value) =>
            FasterStore.Upsert(session, key, version.CreateIndex, version.ModIndex, value, 0));

    /// <summary>
    /// Checks a snapshot made by <see cref="IStateMachineSnapshot.WriteTo"/> without loading it anywhere: its format,
    /// its index, key order, size limits and SHA-256. Offline tools (<c>raftkv snapshot restore</c>) use it to refuse a
    /// bad backup before writing anything. Returns the number of keys.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a valid snapshot at <paramref name="index"/>.</exception>
    public static ulong VerifySnapshot(ulong index, Stream snapshot, StateMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(options);
        ulong keys = 0;
        try
        {
            KvSnapshotFormat.Read(snapshot, index, options, (_, _, _) => keys++);
        }
        catch (EndOfStreamException truncated)
        {
            throw new InvalidDataException("the snapshot ends early (truncated)", truncated);
        }
        return keys;
    }

    /// <summary>Records a snapshot image reads by address before writing them (records on disk are read together).</summary>
    private const int ReadWindow = 64;

    /// <summary>A live key and its record's address, ordered by the key's bytes (its first eight bytes, big-endian, first).</summary>
    private readonly struct LiveKey(byte[] key, long address) : IComparable<LiveKey>
    {
        public readonly ulong Prefix = PrefixOf(key);
        public readonly byte[] Key = key;
        public readonly long Address = address;

        // Bytes past the key's end count as zero: a key orders before any longer key it begins (lexicographic order), and
        // equal prefixes fall back to comparing whole keys, so prefix order never contradicts key order.
        private static ulong PrefixOf(byte[] key)
        {
            Span<byte> first = stackalloc byte[8];
            first.Clear();
            key.AsSpan(0, Math.Min(8, key.Length)).CopyTo(first);
            return BinaryPrimitives.ReadUInt64BigEndian(first);
        }

        public int CompareTo(LiveKey other) =>
            Prefix != other.Prefix ? Prefix.CompareTo(other.Prefix) : Key.AsSpan().SequenceCompareTo(other.Key);
    }

    /// <summary>A captured image over a leased FASTER store; see <see cref="TakeSnapshot"/> for why it stays consistent.</summary>
    private sealed class FasterSnapshot(FasterKvStateMachine owner, FasterStore store, long beginAddress, long tailAddress, ulong index, SessionTableImage sessions)
        : IStateMachineSnapshot
    {
        private int _disposed;

        public ulong Index => index;

        public void WriteTo(Stream destination)
        {
            ArgumentNullException.ThrowIfNull(destination);
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

            // Pass 1: the address of the latest record of every live key below the captured tail.
            int expectedKeys = owner.LiveKeysEstimate;
            var latest = new Dictionary<byte[], long>(expectedKeys + expectedKeys / 8, ByteArrayComparer.Instance);
            var bySpan = latest.GetAlternateLookup<ReadOnlySpan<byte>>();
            using (var iterator = store.Kv.Log.Scan(beginAddress, tailAddress))
            {
                while (iterator.GetNext(out var recordInfo))
                {
                    ReadOnlySpan<byte> key = iterator.GetKey().AsReadOnlySpan();
                    if (recordInfo.Tombstone) bySpan.Remove(key);
                    else bySpan[key] = iterator.CurrentAddress; // copies the key only when it is new
                }
            }
            LiveKey[] ordered = new LiveKey[latest.Count];
            int next = 0;
            foreach (var (key, address) in latest) ordered[next++] = new LiveKey(key, address);
            // Most comparisons are settled by the keys' first eight bytes, held in the array itself: the sort reads
            // the keys' own memory only for ties.
            Array.Sort(ordered);

            using var writer = new KvSnapshotWriter(destination, index, sessions, (ulong)latest.Count);

            // Pass 2: in key order, read each record by address, a window of keys at a time (records on disk are
            // read together). Memory is O(keys) plus one window of records, not O(data).
            var session = store.RentReader();
            var addresses = new long[ReadWindow];
            var outputs = new SpanByteAndMemory[ReadWindow];
            var found = new bool[ReadWindow];
            try
            {
                for (int start = 0; start < ordered.Length; start += ReadWindow)
                {
                    int count = Math.Min(ReadWindow, ordered.Length - start);
                    for (int i = 0; i < count; i++) addresses[i] = ordered[start + i].Address;
                    try
                    {
                        FasterStore.ReadAtAddresses(session, addresses.AsSpan(0, count), outputs.AsSpan(0, count), found.AsSpan(0, count));
                        for (int i = 0; i < count; i++)
                        {
                            if (!found[i]) throw new InvalidOperationException($"snapshot record at address {addresses[i]} vanished");
                            writer.WriteRecord(ordered[start + i].Key, FasterStore.OutputBytes(ref outputs[i]));
                        }
                    }
                    finally
                    {
                        for (int i = 0; i < count; i++)
                        {
                            outputs[i].Memory?.Dispose();
                            outputs[i] = default;
                        }
                    }
                }
            }
            finally
            {
                store.ReturnReader(session);
            }
            writer.Finish();
            owner.NoteLiveBytes(writer.RecordBytes);
            owner.NoteLiveKeys(ordered.Length);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                store.Release();
                owner.ExitLogScan();
            }
        }
    }
}
