namespace RaftKv.Storage.FileSystem;

/// <summary>How <see cref="IFileSystem.Open"/> treats an existing or missing file.</summary>
public enum FileOpenMode
{
    /// <summary>The file must exist.</summary>
    OpenExisting = 0,

    /// <summary>The file must not exist; it is created empty.</summary>
    CreateNew = 1,

    /// <summary>Open the file, creating it empty if it does not exist.</summary>
    OpenOrCreate = 2,
}

/// <summary>
/// The small file-system seam every storage module goes through, so that the deterministic simulator can run
/// the same code over <see cref="SimulatedFileSystem"/>.
/// </summary>
/// <remarks>
/// Durability contract, which both implementations honour and every caller must assume:
/// <list type="bullet">
/// <item>bytes written to a file are durable only after <see cref="IFileHandle.Flush"/> on that file returns;</item>
/// <item>creating, deleting or renaming a file is durable only after <see cref="SyncDirectory"/> on its
///   directory returns;</item>
/// <item>after a crash, unsynced writes may be lost, or kept as any prefix (a torn write);</item>
/// <item>any method may throw <see cref="IOException"/>; after an error the file's state is unknown, so callers
///   treat I/O errors as fail-stop and never retry a failed flush.</item>
/// </list>
/// Paths are plain strings joined with <see cref="Path.Combine(string, string)"/>.
/// </remarks>
public interface IFileSystem
{
    /// <summary>Opens a file for reading and writing.</summary>
    IFileHandle Open(string path, FileOpenMode mode);

    bool FileExists(string path);

    /// <summary>The names (not paths) of the files in a directory, sorted ordinally. Empty if the directory is missing.</summary>
    IReadOnlyList<string> ListFiles(string directory);

    /// <summary>Whether the directory exists (as last created; after a crash, only if its entry was made durable).</summary>
    bool DirectoryExists(string directory);

    /// <summary>Creates the directory (and its parents) if missing. Durable after <see cref="SyncDirectory"/> of the parent.</summary>
    void CreateDirectory(string directory);

    /// <summary>Removes a file's directory entry. Not durable until <see cref="SyncDirectory"/>.</summary>
    void DeleteFile(string path);

    /// <summary>Renames a file, atomically replacing <paramref name="destinationPath"/> if it exists. Not durable until <see cref="SyncDirectory"/>.</summary>
    void Rename(string sourcePath, string destinationPath);

    /// <summary>Makes every create, delete and rename in the directory durable (fsync of the directory).</summary>
    void SyncDirectory(string directory);
}

/// <summary>An open file. Not thread-safe. See <see cref="IFileSystem"/> for the durability contract.</summary>
public interface IFileHandle : IDisposable
{
    string Path { get; }

    /// <summary>The current length, including unsynced writes.</summary>
    long Length { get; }

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>; returns how many were read (fewer only at end of file).</summary>
    int Read(long offset, Span<byte> buffer);

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>, extending the file if needed. Not durable until <see cref="Flush"/>.</summary>
    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Sets the file's length (shortens or zero-extends). Not durable until <see cref="Flush"/>.</summary>
    void SetLength(long length);

    /// <summary>fsync: every write and length change made so far through any handle of this file is durable when this returns.</summary>
    void Flush();
}

/// <summary>Operations built from the <see cref="IFileSystem"/> primitives.</summary>
public static class FileSystemExtensions
{
    /// <summary>
    /// Creates <paramref name="directory"/> and any missing ancestors, fsyncing the parent of each one it creates.
    /// Without that, a power loss after the first acknowledged write could lose a new directory's entry, and with it
    /// every fsynced file inside (Linux: a file's fsync does not make its directory's own entry durable).
    /// </summary>
    public static void CreateDirectoryDurably(this IFileSystem fileSystem, string directory)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        var missing = new Stack<string>();
        for (string? d = Path.TrimEndingDirectorySeparator(directory); !string.IsNullOrEmpty(d) && !fileSystem.DirectoryExists(d); d = Path.GetDirectoryName(d))
        {
            missing.Push(d);
        }
        // Outermost first, so that a crash in between leaves a durable prefix of the chain.
        while (missing.TryPop(out string? created))
        {
            fileSystem.CreateDirectory(created);
            string? parent = Path.GetDirectoryName(created);
            fileSystem.SyncDirectory(string.IsNullOrEmpty(parent) ? "." : parent);
        }
    }
}
