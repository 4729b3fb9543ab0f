using RaftKv.Storage.FileSystem;

namespace RaftKv.Storage.Tests;

/// <summary>The real file system's directory fsync (libc open/fsync/close), which every WAL roll and snapshot publish calls.</summary>
public sealed class PhysicalFileSystemTests
{
    [Fact]
    public void Syncing_a_directory_works_and_a_missing_one_is_an_io_error_naming_it()
    {
        if (OperatingSystem.IsWindows()) return; // a no-op there
        string directory = Path.Combine(Path.GetTempPath(), "raftkv-physical-fs", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            File.WriteAllBytes(Path.Combine(directory, "a"), [1, 2, 3]);
            PhysicalFileSystem.Instance.SyncDirectory(directory);

            string missing = Path.Combine(directory, "missing");
            IOException error = Assert.Throws<IOException>(() => PhysicalFileSystem.Instance.SyncDirectory(missing));
            Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
