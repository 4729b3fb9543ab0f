using RaftKv.Raft;
using RaftKv.Storage.FileSystem;

namespace RaftKv.Storage.Tests;

public sealed class SimulatedFileSystemTests
{
    private const string Dir = "/d";
    private static readonly string FilePath = Path.Combine(Dir, "f");

    private static SimulatedFileSystem NewFs(ulong seed = 1, double torn = 0, bool loseDirectoryOperations = true) =>
        CreateWithDirectory(new SimulatedFileSystem(new DeterministicRandom(seed),
            new SimulatedFileSystemOptions { TornWriteProbability = torn, ZeroFilledTearProbability = 0, LoseUnsyncedDirectoryOperations = loseDirectoryOperations }));

    private static SimulatedFileSystem CreateWithDirectory(SimulatedFileSystem fs)
    {
        fs.CreateDirectory(Dir);
        fs.SyncDirectory("/");
        return fs;
    }

    private static byte[] Bytes(int count, byte value) => Enumerable.Repeat(value, count).ToArray();

    [Fact]
    public void Synced_writes_survive_a_crash_and_unsynced_writes_are_lost()
    {
        SimulatedFileSystem fs = NewFs();
        using (IFileHandle file = fs.Open(FilePath, FileOpenMode.CreateNew))
        {
            file.Write(0, Bytes(10, 1));
            file.Flush();
            fs.SyncDirectory(Dir);
            file.Write(10, Bytes(10, 2));
            Assert.Equal(20, file.Length);
        }
        fs.Crash();
        Assert.Equal(Bytes(10, 1), fs.ReadAllBytes(FilePath));
    }

    [Fact]
    public void A_crash_keeps_a_prefix_of_the_unsynced_writes_torn_at_a_byte()
    {
        var lengths = new HashSet<int>();
        for (ulong seed = 1; seed <= 100; seed++)
        {
            SimulatedFileSystem fs = NewFs(seed, torn: 1);
            using (IFileHandle file = fs.Open(FilePath, FileOpenMode.CreateNew))
            {
                file.Write(0, Bytes(8, 1));
                file.Flush();
                fs.SyncDirectory(Dir);
                file.Write(8, Bytes(8, 2));
                file.Write(16, Bytes(8, 3));
            }
            fs.Crash();
            byte[] after = fs.ReadAllBytes(FilePath);
            byte[] full = [.. Bytes(8, 1), .. Bytes(8, 2), .. Bytes(8, 3)];
            Assert.InRange(after.Length, 8, 24);
            Assert.Equal(full[..after.Length], after);
            lengths.Add(after.Length);
        }
        Assert.Contains(lengths, l => l % 8 != 0); // torn mid-write, not only at write boundaries
        Assert.True(lengths.Count > 5);
    }

    [Fact]
    public void A_created_file_vanishes_at_a_crash_unless_its_directory_was_synced()
    {
        SimulatedFileSystem fs = NewFs();
        using (IFileHandle file = fs.Open(FilePath, FileOpenMode.CreateNew))
        {
            file.Write(0, Bytes(4, 1));
            file.Flush();
        }
        fs.Crash();
        Assert.False(fs.FileExists(FilePath));

        using (IFileHandle file = fs.Open(FilePath, FileOpenMode.CreateNew))
        {
            file.Write(0, Bytes(4, 1));
            file.Flush();
        }
        fs.SyncDirectory(Dir);
        fs.Crash();
        Assert.True(fs.FileExists(FilePath));
    }

    [Fact]
    public void Renames_and_deletes_are_undone_by_a_crash_unless_the_directory_was_synced()
    {
        SimulatedFileSystem fs = NewFs();
        fs.WriteAllBytesDurably(FilePath, Bytes(4, 1));
        fs.Rename(FilePath, FilePath + ".new");
        fs.Crash();
        Assert.True(fs.FileExists(FilePath));
        Assert.False(fs.FileExists(FilePath + ".new"));

        fs.DeleteFile(FilePath);
        fs.Crash();
        Assert.True(fs.FileExists(FilePath));

        fs.DeleteFile(FilePath);
        fs.SyncDirectory(Dir);
        fs.Crash();
        Assert.False(fs.FileExists(FilePath));
    }

    [Fact]
    public void A_created_directory_vanishes_at_a_crash_with_its_synced_files_unless_its_parent_was_synced()
    {
        SimulatedFileSystem fs = NewFs();
        string file = "/d/new/sub/f";
        fs.CreateDirectory("/d/new/sub");
        using (IFileHandle handle = fs.Open(file, FileOpenMode.CreateNew))
        {
            handle.Write(0, Bytes(4, 1));
            handle.Flush();
        }
        fs.SyncDirectory("/d/new/sub");
        fs.SyncDirectory("/d/new"); // "sub" is durable in "new", but "new" is not in "/d"
        fs.Crash();
        Assert.False(fs.DirectoryExists("/d/new"));
        Assert.False(fs.FileExists(file));

        fs.CreateDirectory("/d/new/sub");
        using (IFileHandle handle = fs.Open(file, FileOpenMode.CreateNew))
        {
            handle.Write(0, Bytes(4, 1));
            handle.Flush();
        }
        fs.SyncDirectory("/d/new/sub");
        fs.SyncDirectory("/d/new");
        fs.SyncDirectory(Dir);
        fs.Crash();
        Assert.Equal(Bytes(4, 1), fs.ReadAllBytes(file));
    }

    [Fact]
    public void Directory_operations_can_be_configured_to_survive_crashes()
    {
        SimulatedFileSystem fs = NewFs(loseDirectoryOperations: false);
        using (IFileHandle file = fs.Open(FilePath, FileOpenMode.CreateNew))
        {
            file.Write(0, Bytes(4, 1));
            file.Flush();
        }
        fs.Crash();
        Assert.Equal(Bytes(4, 1), fs.ReadAllBytes(FilePath));
    }

    [Fact]
    public void Handles_opened_before_a_crash_are_invalid_after_it()
    {
        SimulatedFileSystem fs = NewFs();
        fs.WriteAllBytesDurably(FilePath, Bytes(4, 1));
        IFileHandle file = fs.Open(FilePath, FileOpenMode.OpenExisting);
        fs.Crash();
        Assert.Throws<SimulatedIOException>(() => file.Write(0, Bytes(1, 2)));
    }

    [Fact]
    public void FlipRandomBit_changes_exactly_one_bit_of_synced_data()
    {
        SimulatedFileSystem fs = NewFs();
        byte[] original = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        fs.WriteAllBytesDurably(FilePath, original);
        long offset = fs.FlipRandomBit(FilePath);
        byte[] after = fs.ReadAllBytes(FilePath);
        int differingBits = original.Zip(after, (a, b) => System.Numerics.BitOperations.PopCount((uint)(a ^ b))).Sum();
        Assert.Equal(1, differingBits);
        Assert.NotEqual(original[offset], after[offset]);
        fs.Crash();
        Assert.Equal(after, fs.ReadAllBytes(FilePath));
    }

    [Fact]
    public void An_injected_failure_short_writes_then_fails_every_operation_until_the_crash()
    {
        SimulatedFileSystem fs = NewFs(seed: 5);
        fs.WriteAllBytesDurably(FilePath, []);
        using IFileHandle file = fs.Open(FilePath, FileOpenMode.OpenExisting);
        fs.FailAfterOperations(0);
        Assert.Throws<SimulatedIOException>(() => file.Write(0, Bytes(100, 7)));
        Assert.InRange(file.Length, 0, 99);
        Assert.Throws<SimulatedIOException>(() => file.Flush());
        Assert.Throws<SimulatedIOException>(() => fs.SyncDirectory(Dir));
        fs.Crash();
        using IFileHandle again = fs.Open(FilePath, FileOpenMode.OpenExisting);
        again.Write(0, Bytes(1, 1));
        again.Flush();
    }

    [Fact]
    public void The_same_seed_gives_the_same_crash_outcome()
    {
        byte[] Run(ulong seed)
        {
            SimulatedFileSystem fs = NewFs(seed, torn: 1);
            using (IFileHandle file = fs.Open(FilePath, FileOpenMode.CreateNew))
            {
                fs.SyncDirectory(Dir);
                for (int i = 0; i < 10; i++)
                {
                    file.Write(i * 10, Bytes(10, (byte)i));
                }
            }
            fs.Crash();
            return fs.ReadAllBytes(FilePath);
        }
        Assert.Equal(Run(42), Run(42));
    }
}
