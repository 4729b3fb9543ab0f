using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using FASTER.core;

namespace RaftKv.StateMachine;

using KvSession = ClientSession<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty, SpanByteFunctions<Empty>>;

/// <summary>
/// One FASTER instance in its own directory (hybrid log + checkpoints), shared by the apply thread, reader threads and
/// snapshot writers through leases. A store is replaced wholesale by <see cref="FasterKvStateMachine.Restore"/>; the
/// old one is disposed (and its directory deleted, if retired) only when its last lease is released.
/// </summary>
/// <remarks>
/// Records: key = the user key; value = [createIndex u64][modIndex u64][user value], little-endian.
/// Invariant: only the apply thread's session writes; every other session only reads.
/// </remarks>
internal sealed class FasterStore
{
    public const int VersionBytes = 16;

    private readonly IDevice _device;
    private readonly ConcurrentBag<KvSession> _readers = [];
    private readonly string _directory;
    private int _leases = 1;
    private volatile bool _deleteDirectoryOnDispose;

    private FasterStore(string directory, StateMachineOptions options)
    {
        _directory = directory;
        string checkpointDirectory = Path.Combine(directory, "checkpoints");
        Directory.CreateDirectory(checkpointDirectory);
        _device = Devices.CreateLogDevice(Path.Combine(directory, "hlog", "hlog"), preallocateFile: false, deleteOnClose: false,
            capacity: Devices.CAPACITY_UNSPECIFIED, recoverDevice: true);
        Kv = new FasterKV<SpanByte, SpanByte>(
            options.IndexBuckets,
            new LogSettings
            {
                LogDevice = _device,
                PageSizeBits = Log2(options.LogPageSizeBytes),
                MemorySizeBits = Log2(options.LogMemorySizeBytes),
                SegmentSizeBits = Log2(options.LogSegmentSizeBytes),
            },
            new CheckpointSettings { CheckpointDir = checkpointDirectory, RemoveOutdated = true });
        // FASTER's own test of which checkpoints completed, not the presence of a metadata file: the metadata file is
        // created before it is written, as the checkpoint's last step, so a crash in between leaves one that does not
        // parse. With no older checkpoint to fall back on (the first one of a store), Recover would refuse to start.
        HasCheckpoint = Kv.GetLatestCheckpointVersion() >= 0;
    }

    public FasterKV<SpanByte, SpanByte> Kv { get; }

    /// <summary>True when the directory held a completed checkpoint when the store was opened.</summary>
    public bool HasCheckpoint { get; }

    public string Directory_ => _directory;

    /// <summary>Opens (without recovering) the store in <paramref name="directory"/>.</summary>
    public static FasterStore Create(string directory, StateMachineOptions options) => new(directory, options);

    public KvSession NewSession() => Kv.For(new SpanByteFunctions<Empty>(MemoryPool<byte>.Shared)).NewSession<SpanByteFunctions<Empty>>();

    public bool TryAcquire()
    {
        while (true)
        {
            int leases = Volatile.Read(ref _leases);
            if (leases == 0) return false;
            if (Interlocked.CompareExchange(ref _leases, leases + 1, leases) == leases) return true;
        }
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0) DisposeCore();
    }

    /// <summary>Drops the owner's lease; with <paramref name="deleteDirectory"/>, the files go once the last lease is gone.</summary>
    public void Retire(bool deleteDirectory)
    {
        _deleteDirectoryOnDispose = deleteDirectory;
        Release();
    }

    public KvSession RentReader() => _readers.TryTake(out var session) ? session : NewSession();

    public void ReturnReader(KvSession session) => _readers.Add(session);

    private void DisposeCore()
    {
        while (_readers.TryTake(out var session)) session.Dispose();
        Kv.Dispose();
        _device.Dispose();
        if (_deleteDirectoryOnDispose)
        {
            try { Directory.Delete(_directory, recursive: true); }
            catch (IOException) { } // A leftover directory is removed again by the next Open.
        }
    }

    /// <summary>
    /// Reads the record of <paramref name="key"/>: versions then value. Waits for disk I/O if the record is not in
    /// memory. Safe while log compaction runs on another thread.
    /// </summary>
    /// <remarks>
    /// Compaction copies each live record of a range to the tail, then moves the log's begin address past the range.
    /// A read that found the key's old address (in the index just before the copy replaced it, or on disk, waiting
    /// for its I/O outside FASTER's epoch) and checks it after the move is told "not found", though the key lives at
    /// the tail. So a "not found" from a read during which the begin address moved is read again; one during which it
    /// did not move is the truth (compaction moves it only after the copies are in the index).
    /// </remarks>
    public byte[]? Read(KvSession session, ReadOnlySpan<byte> key, long serialNo)
    {
        Status status = ReadRecord(session, key, serialNo, default, out SpanByteAndMemory output);
        return TakeOutput(status, ref output);
    }

    /// <summary>
    /// The versions of <paramref name="key"/>'s record, or <see cref="KeyVersion.Absent"/>, without copying the record
    /// out: a put or delete needs only the create index it keeps. A record that fits <see cref="InlineReadBytes"/> is
    /// read into the stack, a larger one into a pooled buffer that goes back at once.
    /// </summary>
    public KeyVersion ReadVersion(KvSession session, ReadOnlySpan<byte> key, long serialNo)
    {
        Span<byte> inline = stackalloc byte[InlineReadBytes];
        Status status = ReadRecord(session, key, serialNo, new SpanByteAndMemory(SpanByte.FromFixedSpan(inline)), out SpanByteAndMemory output);
        try
        {
            if (!status.Found) return KeyVersion.Absent;
            return ParseVersion(OutputBytes(ref output));
        }
        finally
        {
            output.Memory?.Dispose();
        }
    }

    /// <summary>Records up to this size are read into the stack by <see cref="ReadVersion"/>.</summary>
    public const int InlineReadBytes = 512;

    /// <summary>One read of <paramref name="key"/>, retried when compaction moved the log's begin address under it (see above).</summary>
    private Status ReadRecord(KvSession session, ReadOnlySpan<byte> key, long serialNo, SpanByteAndMemory into, out SpanByteAndMemory output)
    {
        while (true)
        {
            long begin = Kv.Log.BeginAddress;
            SpanByte input = default;
            output = into;
            var status = session.Read(key, ref input, ref output, Empty.Default, serialNo);
            if (status.IsPending) CompletePendingRead(session, ref status, ref output);
            if (!status.NotFound || Kv.Log.BeginAddress == begin) return status;
            output.Memory?.Dispose();
        }
    }

    /// <summary>Waits for a read that went to disk and takes its status and output.</summary>
    private static void CompletePendingRead(KvSession session, ref Status status, ref SpanByteAndMemory output)
    {
        using (var completed = WaitForPendingReads(session))
        {
            Invariant(completed.Next(), "a pending read completed without an output");
            status = completed.Current.Status;
            output = completed.Current.Output;
        }
    }

    /// <summary>
    /// Waits for reads that went to disk, blocking on a task rather than in FASTER's own wait: a thread-pool thread
    /// blocked on a task is seen by the pool, which adds a thread at once, and FASTER's device runs its reads on the
    /// pool (Task.Run). With every worker in a wait the pool cannot see, the reads they wait for would stay queued until
    /// the pool's starvation check adds a thread, about half a second later.
    /// </summary>
    private static CompletedOutputIterator<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty> WaitForPendingReads(KvSession session) =>
        session.CompletePendingWithOutputsAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// Reads the records stored at <paramref name="addresses"/> (snapshots know where each live record is) into
    /// <paramref name="outputs"/>, pooled memory the caller disposes (<see cref="OutputBytes"/> gives the bytes);
    /// <paramref name="found"/> is false where no record is. Every read starts before any is waited for, so records
    /// that left memory come from disk together rather than one wait each.
    /// </summary>
    public static void ReadAtAddresses(KvSession session, ReadOnlySpan<long> addresses, Span<SpanByteAndMemory> outputs, Span<bool> found)
    {
        Dictionary<long, int>? pendingAt = null;
        for (int i = 0; i < addresses.Length; i++)
        {
            SpanByte input = default;
            outputs[i] = default;
            ReadOptions readOptions = default;
            SetStartAddress(ref readOptions, addresses[i]);
            Status status = session.ReadAtAddress(ref input, ref outputs[i], ref readOptions, Empty.Default, 0);
            if (status.IsPending) (pendingAt ??= [])[addresses[i]] = i;
            else found[i] = status.Found;
        }
        if (pendingAt is null) return;
        using (var completed = WaitForPendingReads(session))
        {
            while (completed.Next())
            {
                int i = pendingAt[completed.Current.RecordMetadata.Address];
                outputs[i] = completed.Current.Output;
                found[i] = completed.Current.Status.Found;
                pendingAt.Remove(completed.Current.RecordMetadata.Address);
            }
        }
        Invariant(pendingAt.Count == 0, "a pending read at an address completed without an output");
    }

    // FASTER 2.6.5 gives ReadOptions.StartAddress a non-public setter, yet ReadAtAddress reads the address from it. An
    // open delegate over that setter sets it on the caller's copy without boxing; creating it fails fast (type
    // initializer) if a FASTER upgrade removes the property.
    private delegate void ReadOptionsSetter(ref ReadOptions options, long address);

    private static readonly ReadOptionsSetter SetStartAddress =
        (typeof(ReadOptions).GetProperty(nameof(ReadOptions.StartAddress))?.GetSetMethod(nonPublic: true)
            ?? throw new MissingMemberException("ReadOptions.StartAddress")).CreateDelegate<ReadOptionsSetter>();

    /// <summary>The record a read copied out: in the caller's span, or in a buffer from the memory pool.</summary>
    public static ReadOnlySpan<byte> OutputBytes(ref SpanByteAndMemory output) =>
        output.IsSpanByte ? output.SpanByte.AsReadOnlySpan() : output.Memory.Memory.Span[..output.Length];

    private static byte[]? TakeOutput(Status status, ref SpanByteAndMemory output)
    {
        try
        {
            return status.Found ? OutputBytes(ref output).ToArray() : null;
        }
        finally
        {
            output.Memory?.Dispose();
        }
    }

    public static void Upsert(KvSession session, ReadOnlySpan<byte> key, ulong createIndex, ulong modIndex, ReadOnlySpan<byte> value, long serialNo)
    {
        int length = VersionBytes + value.Length;
        byte[] rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            BinaryPrimitives.WriteUInt64LittleEndian(rented, createIndex);
            BinaryPrimitives.WriteUInt64LittleEndian(rented.AsSpan(8), modIndex);
            value.CopyTo(rented.AsSpan(VersionBytes));
            var status = session.Upsert(key, rented.AsSpan(0, length), Empty.Default, serialNo);
            if (status.IsPending) session.CompletePending(wait: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public static void Delete(KvSession session, ReadOnlySpan<byte> key, long serialNo)
    {
        var status = session.Delete(key, Empty.Default, serialNo);
        if (status.IsPending) session.CompletePending(wait: true);
    }

    public static KeyVersion ParseVersion(ReadOnlySpan<byte> record) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(record), BinaryPrimitives.ReadUInt64LittleEndian(record[8..]));

    private static int Log2(long powerOfTwo) => System.Numerics.BitOperations.Log2((ulong)powerOfTwo);

    private static void Invariant(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException(message);
    }
}
