using System.Buffers.Binary;
using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Fuzz.Targets;

/// <summary>
/// Snapshot files. The input is [flags u8][file bytes]; the file is put in a snapshot directory of a
/// <see cref="SimulatedFileSystem"/> and <see cref="SnapshotStore.Open"/> loads it. Damage must surface as
/// <see cref="SnapshotCorruptionException"/>. A loaded snapshot must read back whole and chunk without error.
/// </summary>
public static class SnapshotFileTarget
{
    public const string Directory = "/snapshots";

    /// <summary>Flag bit: rewrite the whole-file CRC (the last four bytes) so mutations reach the header and trailer checks.</summary>
    public const byte FixChecksum = 1;

    private static readonly SnapshotMetadata NameMetadata = new(7, 2, new ClusterConfiguration([1]));

    public static FuzzOutcome Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return FuzzOutcome.Rejected;
        }
        byte[] file = input.AsSpan(1).ToArray();
        if ((input[0] & FixChecksum) != 0 && file.Length >= 4)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(file.Length - 4), Crc32C.Compute(file.AsSpan(0, file.Length - 4)));
        }
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        fileSystem.WriteAllBytesDurably(Path.Combine(Directory, "snapshot-00000000000000000007-00000000000000000002.snap"), file);

        SnapshotStore store = SnapshotStore.Open(fileSystem, Directory);
        if (store.Latest is null)
        {
            throw new FuzzPropertyException("a snapshot file was present but the store opened empty");
        }
        byte[] data = store.ReadLatestData();
        if (data.Length != store.LatestLengthBytes || Crc32C.Compute(data) != store.LatestDataCrc)
        {
            throw new FuzzPropertyException($"the data read back ({data.Length} bytes) does not match the recorded length {store.LatestLengthBytes} and CRC");
        }
        using var chunker = new SnapshotChunker(store, new SnapshotTransferOptions { ChunkSizeBytes = 64 });
        for (long offset = 0; offset < chunker.TotalLengthBytes;)
        {
            offset += chunker.ReadChunk(offset).Data.Length;
        }
        return FuzzOutcome.Accepted;
    }

    public static IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        yield return ("empty-data", File(NameMetadata, []));
        yield return ("small", File(NameMetadata, "hello snapshot"u8.ToArray()));
        yield return ("learners", File(new SnapshotMetadata(7, 2, new ClusterConfiguration([1, 2, 3], [9])), new byte[300]));
    }

    private static byte[] File(SnapshotMetadata metadata, byte[] data)
    {
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        SnapshotStore store = SnapshotStore.Open(fileSystem, Directory);
        store.Save(metadata, data);
        string name = fileSystem.ListFiles(Directory).Single();
        return [FixChecksum, .. fileSystem.ReadAllBytes(Path.Combine(Directory, name))];
    }
}
