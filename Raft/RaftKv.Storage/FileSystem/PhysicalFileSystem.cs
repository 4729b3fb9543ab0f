using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RaftKv.Storage.FileSystem;

/// <summary>
/// The real file system: <see cref="RandomAccess"/> for positional I/O, <see cref="RandomAccess.FlushToDisk"/>
/// (fsync) for file durability, and <c>open</c>/<c>fsync</c> on the directory itself (Unix) for directory
/// durability. On Windows directory sync is a no-op: NTFS journals metadata operations.
/// </summary>
public sealed class PhysicalFileSystem : IFileSystem
{
    public static readonly PhysicalFileSystem Instance = new();

    public IFileHandle Open(string path, FileOpenMode mode)
    {
        FileMode fileMode = mode switch
        {
            FileOpenMode.OpenExisting => FileMode.Open,
            FileOpenMode.CreateNew => FileMode.CreateNew,
            FileOpenMode.OpenOrCreate => FileMode.OpenOrCreate,
            _ => throw new ArgumentOutOfRangeException(nameof(mode)),
        };
        SafeFileHandle handle = File.OpenHandle(path, fileMode, FileAccess.ReadWrite, FileShare.Read);
        return new PhysicalFileHandle(path, handle);
    }

    public bool FileExists(string path) => File.Exists(path);

    public bool DirectoryExists(string directory) => Directory.Exists(directory);

    public IReadOnlyList<string> ListFiles(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return [];
        }
        var names = Directory.GetFiles(directory).Select(p => System.IO.Path.GetFileName(p)).ToList();
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public void CreateDirectory(string directory) => Directory.CreateDirectory(directory);

    public void DeleteFile(string path) => File.Delete(path);

    public void Rename(string sourcePath, string destinationPath) => File.Move(sourcePath, destinationPath, overwrite: true);

    public void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        // .NET refuses to open a directory as a file, so go to libc: open(O_RDONLY), fsync, close. No O_DIRECTORY: its
        // value differs between architectures (0x10000 on Linux x64 is O_DIRECT on arm64, whose O_DIRECTORY is 0x4000),
        // and it only guards against the path being a file, which the callers' paths never are.
        int fd = Native.Open(directory, Native.ORdOnly);
        if (fd < 0)
        {
            throw new IOException($"open({directory}) for directory fsync failed: errno {Marshal.GetLastPInvokeError()}");
        }
        try
        {
            if (Native.Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {directory} failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    private sealed class PhysicalFileHandle(string path, SafeFileHandle handle) : IFileHandle
    {
        public string Path { get; } = path;

        public long Length => RandomAccess.GetLength(handle);

        public int Read(long offset, Span<byte> buffer)
        {
            int total = 0;
            while (total < buffer.Length)
            {
                int read = RandomAccess.Read(handle, buffer[total..], offset + total);
                if (read == 0)
                {
                    break;
                }
                total += read;
            }
            return total;
        }

        public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(handle, data, offset);

        public void SetLength(long length) => RandomAccess.SetLength(handle, length);

        public void Flush() => RandomAccess.FlushToDisk(handle);

        public void Dispose() => handle.Dispose();
    }

    private static partial class Native
    {
        public const int ORdOnly = 0;

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static extern int Fsync(int fd);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        public static extern int Close(int fd);
    }
}
