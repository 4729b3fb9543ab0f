using RaftKv.Raft;

namespace RaftKv.Storage.FileSystem;

/// <summary>Fault knobs of a <see cref="SimulatedFileSystem"/>. Probabilities are in [0, 1].</summary>
public sealed record SimulatedFileSystemOptions
{
    /// <summary>At <see cref="SimulatedFileSystem.Crash"/>, the chance that a file keeps a random prefix of its unsynced writes (a torn write) rather than losing all of them.</summary>
    public double TornWriteProbability { get; init; } = 0.5;

    /// <summary>Given a torn write, the chance that the file keeps the torn write's full length but the bytes after the tear read as zeros (size metadata persisted, data pages not).</summary>
    public double ZeroFilledTearProbability { get; init; } = 0.25;

    /// <summary>
    /// If true, creates, deletes and renames not made durable by <see cref="IFileSystem.SyncDirectory"/> are undone by a
    /// crash; so is the creation of a directory not followed by a sync of its parent, with everything inside it.
    /// </summary>
    public bool LoseUnsyncedDirectoryOperations { get; init; } = true;

    /// <summary>The chance that any single write stores only a random prefix of its bytes and then fails with <see cref="IOException"/>.</summary>
    public double ShortWriteProbability { get; init; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach ((string name, double p) in new[]
                 {
                     (nameof(TornWriteProbability), TornWriteProbability),
                     (nameof(ZeroFilledTearProbability), ZeroFilledTearProbability),
                     (nameof(ShortWriteProbability), ShortWriteProbability),
                 })
        {
            if (!(p >= 0 && p <= 1))
            {
                errors.Add($"{name} must be in [0, 1], was {p}");
            }
        }
        return errors;
    }
}

/// <summary>The I/O error a <see cref="SimulatedFileSystem"/> injects.</summary>
public sealed class SimulatedIOException(string message) : IOException(message);

/// <summary>
/// An in-memory file system for deterministic simulation and fault-injection tests. It keeps, for every file,
/// the bytes that are durable (made so by <see cref="IFileHandle.Flush"/>) apart from the writes made since,
/// and for every directory the entries made durable by <see cref="SyncDirectory"/> apart from later creates,
/// deletes and renames. <see cref="Crash"/> throws away what was not durable, or tears it.
/// </summary>
/// <remarks>
/// Fully deterministic: every random choice comes from the <see cref="DeterministicRandom"/> passed in; no clock,
/// no threads; files are kept in ordinal name order. Not thread-safe. A directory's own entry is durable once its
/// parent was synced after it was created (root directories always are); directories are never deleted.
/// </remarks>
public sealed class SimulatedFileSystem : IFileSystem
{
    private readonly DeterministicRandom _random;

    // Invariant: every Inode reachable from _durable was reachable from _live at the last SyncDirectory of its directory.
    private SortedDictionary<string, Inode> _live = new(StringComparer.Ordinal);
    private SortedDictionary<string, Inode> _durable = new(StringComparer.Ordinal);
    private SortedSet<string> _directories = new(StringComparer.Ordinal);

    // Invariant: a subset of _directories; those whose entry in their parent was made durable by SyncDirectory.
    private SortedSet<string> _durableDirectories = new(StringComparer.Ordinal);

    private long _operationsUntilFailure = long.MaxValue;
    private bool _failing;
    private int _generation;

    public SimulatedFileSystem(DeterministicRandom random, SimulatedFileSystemOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        _random = random;
        Options = options ?? new SimulatedFileSystemOptions();
        IReadOnlyList<string> errors = Options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }
    }

    public SimulatedFileSystemOptions Options { get; set; }

    /// <summary>How many mutating operations (write, set length, flush, create, delete, rename, directory sync) have run.</summary>
    public long MutatingOperationCount { get; private set; }

    /// <summary>How many <see cref="IFileHandle.Flush"/> calls have run (fsyncs of files).</summary>
    public long FileSyncCount { get; private set; }

    public IFileHandle Open(string path, FileOpenMode mode)
    {
        path = Normalize(path);
        bool exists = _live.TryGetValue(path, out Inode? inode);
        switch (mode)
        {
            case FileOpenMode.OpenExisting when !exists:
                throw new FileNotFoundException($"no such file: {path}", path);
            case FileOpenMode.CreateNew when exists:
                throw new IOException($"file already exists: {path}");
        }
        if (!_directories.Contains(DirectoryOf(path)))
        {
            throw new DirectoryNotFoundException($"no such directory: {DirectoryOf(path)}");
        }
        if (!exists)
        {
            BeginMutation($"create {path}");
            inode = new Inode();
            _live[path] = inode;
        }
        return new Handle(this, path, inode!, _generation);
    }

    public bool FileExists(string path) => _live.ContainsKey(Normalize(path));

    public bool DirectoryExists(string directory) => _directories.Contains(Normalize(directory));

    public IReadOnlyList<string> ListFiles(string directory)
    {
        directory = Normalize(directory);
        return _live.Keys.Where(p => DirectoryOf(p) == directory).Select(p => p[(directory.Length + 1)..]).ToList();
    }

    public void CreateDirectory(string directory)
    {
        for (string? d = Normalize(directory); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
        {
            _directories.Add(d);
        }
    }

    public void DeleteFile(string path)
    {
        path = Normalize(path);
        BeginMutation($"delete {path}");
        _live.Remove(path);
    }

    public void Rename(string sourcePath, string destinationPath)
    {
        sourcePath = Normalize(sourcePath);
        destinationPath = Normalize(destinationPath);
        if (!_live.TryGetValue(sourcePath, out Inode? inode))
        {
            throw new FileNotFoundException($"no such file: {sourcePath}", sourcePath);
        }
        BeginMutation($"rename {sourcePath}");
        _live.Remove(sourcePath);
        _live[destinationPath] = inode;
    }

    public void SyncDirectory(string directory)
    {
        directory = Normalize(directory);
        BeginMutation($"sync directory {directory}");
        foreach (string path in _durable.Keys.Where(p => DirectoryOf(p) == directory).ToList())
        {
            _durable.Remove(path);
        }
        foreach ((string path, Inode inode) in _live.Where(kv => DirectoryOf(kv.Key) == directory))
        {
            _durable[path] = inode;
        }
        _durableDirectories.UnionWith(_directories.Where(d => DirectoryOf(d) == directory));
    }

    /// <summary>
    /// Simulates power loss: open handles become invalid, unsynced directory operations are undone (if
    /// <see cref="SimulatedFileSystemOptions.LoseUnsyncedDirectoryOperations"/>), and each file's unsynced
    /// writes are lost, or with <see cref="SimulatedFileSystemOptions.TornWriteProbability"/> a random prefix of
    /// them survives, the last surviving write torn at a random byte. Also clears <see cref="FailAfterOperations"/>.
    /// </summary>
    public void Crash()
    {
        _generation++;
        _failing = false;
        _operationsUntilFailure = long.MaxValue;
        if (Options.LoseUnsyncedDirectoryOperations)
        {
            // A directory whose entry (or an ancestor's) never became durable is gone, and so is everything in it.
            _directories = new SortedSet<string>(_directories.Where(SurvivesCrash), StringComparer.Ordinal);
            _durableDirectories = new SortedSet<string>(_directories, StringComparer.Ordinal);
            _durable = new SortedDictionary<string, Inode>(_durable.Where(kv => _directories.Contains(DirectoryOf(kv.Key)))
                .ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal);
            _live = new SortedDictionary<string, Inode>(_durable, StringComparer.Ordinal);
        }
        else
        {
            _durable = new SortedDictionary<string, Inode>(_live, StringComparer.Ordinal);
            _durableDirectories = new SortedSet<string>(_directories, StringComparer.Ordinal);
        }
        foreach (Inode inode in _live.Values.Distinct())
        {
            if (inode.Pending.Count > 0 && _random.Chance(Options.TornWriteProbability))
            {
                int keep = _random.Next(0, inode.Pending.Count);
                for (int i = 0; i < keep; i++)
                {
                    inode.Pending[i].ApplyTo(inode.Durable);
                }
                PendingOperation torn = inode.Pending[keep];
                if (torn.Data is { } data)
                {
                    int prefix = _random.Next(0, data.Length + 1);
                    inode.Durable.Write(torn.Offset, data.AsSpan(0, prefix));
                    if (_random.Chance(Options.ZeroFilledTearProbability))
                    {
                        inode.Durable.SetLength(Math.Max(inode.Durable.Length, torn.Offset + data.Length));
                    }
                }
                else if (_random.Chance(0.5))
                {
                    torn.ApplyTo(inode.Durable);
                }
            }
            inode.Pending.Clear();
            inode.Current = inode.Durable.Clone();
        }
    }

    /// <summary>Lets <paramref name="count"/> more mutating operations succeed; the next one fails (a write after storing a random prefix), and so does every later one until <see cref="Crash"/>.</summary>
    public void FailAfterOperations(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _operationsUntilFailure = count;
    }

    /// <summary>Flips one random bit among the durable bytes of a file (bit rot); returns its byte offset, or -1 if the file has no durable bytes.</summary>
    public long FlipRandomBit(string path)
    {
        Inode inode = _live[Normalize(path)];
        long length = Math.Min(inode.Durable.Length, inode.Current.Length);
        if (length == 0)
        {
            return -1;
        }
        long offset = (long)(_random.NextUInt64() % (ulong)length);
        byte mask = (byte)(1 << _random.Next(0, 8));
        inode.Durable.FlipBits(offset, mask);
        inode.Current.FlipBits(offset, mask);
        return offset;
    }

    /// <summary>Test hook: the file's current bytes (including unsynced writes).</summary>
    public byte[] ReadAllBytes(string path) => _live[Normalize(path)].Current.ToArray();

    /// <summary>Test hook: replaces a file's content, durably, creating the file and its directory entry (and directories) if needed.</summary>
    public void WriteAllBytesDurably(string path, ReadOnlySpan<byte> bytes)
    {
        path = Normalize(path);
        CreateDirectory(DirectoryOf(path));
        for (string? d = DirectoryOf(path); !string.IsNullOrEmpty(d); d = Path.GetDirectoryName(d))
        {
            _durableDirectories.Add(d);
        }
        if (!_live.TryGetValue(path, out Inode? inode))
        {
            inode = new Inode();
            _live[path] = inode;
        }
        _durable[path] = inode;
        inode.Pending.Clear();
        inode.Durable = new SimulatedBuffer();
        inode.Durable.Write(0, bytes);
        inode.Current = inode.Durable.Clone();
    }

    private void BeginMutation(string what)
    {
        MutatingOperationCount++;
        if (_failing || _operationsUntilFailure-- <= 0)
        {
            _failing = true;
            throw new SimulatedIOException($"injected I/O error: {what}");
        }
    }

    private static string Normalize(string path) => path.Length > 1 ? path.TrimEnd('/', '\\') : path;

    private static string DirectoryOf(string path) => Path.GetDirectoryName(path) ?? "";

    private bool SurvivesCrash(string directory) =>
        string.IsNullOrEmpty(DirectoryOf(directory)) || (_durableDirectories.Contains(directory) && SurvivesCrash(DirectoryOf(directory)));

    private sealed class Inode
    {
        public SimulatedBuffer Current = new();

        // Invariant: Durable with every Pending operation applied in order equals Current.
        public SimulatedBuffer Durable = new();

        public readonly List<PendingOperation> Pending = [];
    }

    /// <summary>An unsynced write (Data set) or length change (Data null, Offset is the new length).</summary>
    private readonly record struct PendingOperation(long Offset, byte[]? Data)
    {
        public void ApplyTo(SimulatedBuffer buffer)
        {
            if (Data is null)
            {
                buffer.SetLength(Offset);
            }
            else
            {
                buffer.Write(Offset, Data);
            }
        }
    }

    private sealed class Handle(SimulatedFileSystem fileSystem, string path, Inode inode, int generation) : IFileHandle
    {
        private bool _disposed;

        public string Path { get; } = path;

        public long Length
        {
            get
            {
                CheckUsable();
                return inode.Current.Length;
            }
        }

        public int Read(long offset, Span<byte> buffer)
        {
            CheckUsable();
            return inode.Current.Read(offset, buffer);
        }

        public void Write(long offset, ReadOnlySpan<byte> data)
        {
            CheckUsable();
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
            bool shortWrite = fileSystem._random.Chance(fileSystem.Options.ShortWriteProbability);
            try
            {
                fileSystem.BeginMutation($"write {Path}@{offset}");
            }
            catch (SimulatedIOException)
            {
                shortWrite = true;
            }
            if (shortWrite)
            {
                fileSystem._failing = true;
                int prefix = data.Length == 0 ? 0 : fileSystem._random.Next(0, data.Length);
                Apply(new PendingOperation(offset, data[..prefix].ToArray()));
                throw new SimulatedIOException($"injected short write: {prefix} of {data.Length} bytes at {Path}@{offset}");
            }
            Apply(new PendingOperation(offset, data.ToArray()));
        }

        public void SetLength(long length)
        {
            CheckUsable();
            ArgumentOutOfRangeException.ThrowIfNegative(length);
            fileSystem.BeginMutation($"set length {Path}");
            Apply(new PendingOperation(length, null));
        }

        public void Flush()
        {
            CheckUsable();
            fileSystem.BeginMutation($"fsync {Path}");
            fileSystem.FileSyncCount++;
            foreach (PendingOperation operation in inode.Pending)
            {
                operation.ApplyTo(inode.Durable);
            }
            inode.Pending.Clear();
        }

        public void Dispose() => _disposed = true;

        private void Apply(PendingOperation operation)
        {
            operation.ApplyTo(inode.Current);
            inode.Pending.Add(operation);
        }

        private void CheckUsable()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (generation != fileSystem._generation)
            {
                throw new SimulatedIOException($"handle to {Path} was invalidated by a crash");
            }
        }
    }
}

/// <summary>A growable byte array with a length; the simulated file's content.</summary>
internal sealed class SimulatedBuffer
{
    private byte[] _bytes = [];

    public long Length { get; private set; }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        long end = offset + data.Length;
        if (end > Length)
        {
            SetLength(end);
        }
        data.CopyTo(_bytes.AsSpan((int)offset));
    }

    public void SetLength(long length)
    {
        if (length > _bytes.Length)
        {
            Array.Resize(ref _bytes, (int)Math.Max(length, Math.Min(int.MaxValue, (long)_bytes.Length * 2)));
        }
        if (length < Length)
        {
            _bytes.AsSpan((int)length, (int)(Length - length)).Clear();
        }
        Length = length;
    }

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset >= Length)
        {
            return 0;
        }
        int count = (int)Math.Min(buffer.Length, Length - offset);
        _bytes.AsSpan((int)offset, count).CopyTo(buffer);
        return count;
    }

    public void FlipBits(long offset, byte mask) => _bytes[offset] ^= mask;

    public SimulatedBuffer Clone()
    {
        var clone = new SimulatedBuffer();
        clone.Write(0, _bytes.AsSpan(0, (int)Length));
        return clone;
    }

    public byte[] ToArray() => _bytes.AsSpan(0, (int)Length).ToArray();
}
