using System.Buffers.Binary;
using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Fuzz.Tests;

/// <summary>
/// Crashes AFL++ found in the snapshot-file target. Both files below have a matching whole-file CRC (a writer bug or
/// a forged file, not rot), so opening the store must fail with <see cref="SnapshotCorruptionException"/>.
/// </summary>
public sealed class SnapshotFileRegressionTests
{
    private const string Directory = "/snapshots";
    private const string FileName = "snapshot-00000000000000000007-00000000000000000002.snap";

    private static readonly FuzzTarget Target = FuzzTargets.Get("snapshot-file");

    /// <summary>Found by AFL++: a configuration that does not decode escaped SnapshotStore.Open as FormatException.</summary>
    [Fact]
    public async Task Configuration_that_does_not_decode_is_SnapshotCorruptionException()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("snapshot-file", "crash-configuration-does-not-decode")));

        byte[] badConfiguration = new byte[8 + 8];
        BinaryPrimitives.WriteUInt32LittleEndian(badConfiguration, 1); // one voter: node 0
        var exception = AssertCorrupt(File(badConfiguration, "data"u8.ToArray(), dataCrc: null));
        Assert.Contains("configuration does not decode", exception.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Found by AFL++: the data CRC in the trailer was taken on trust. A wrong one was then promised to every
    /// receiver by SnapshotChunker, whose final check would fail and restart the transfer forever.
    /// </summary>
    [Fact]
    public async Task Trailer_data_checksum_that_does_not_match_the_data_is_SnapshotCorruptionException()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("snapshot-file", "crash-trailer-data-checksum-wrong")));

        byte[] data = "state machine bytes"u8.ToArray();
        var exception = AssertCorrupt(File(new ClusterConfiguration([1]).Encode(), data, dataCrc: Crc32C.Compute(data) ^ 1));
        Assert.Contains("data checksum mismatch", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_well_formed_file_built_here_opens()
    {
        byte[] data = "state machine bytes"u8.ToArray();
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        fileSystem.WriteAllBytesDurably(Path.Combine(Directory, FileName), File(new ClusterConfiguration([1]).Encode(), data, dataCrc: null));

        SnapshotStore store = SnapshotStore.Open(fileSystem, Directory);

        Assert.Equal(data, store.ReadLatestData());
    }

    private static SnapshotCorruptionException AssertCorrupt(byte[] file)
    {
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        fileSystem.WriteAllBytesDurably(Path.Combine(Directory, FileName), file);
        return Assert.Throws<SnapshotCorruptionException>(() => SnapshotStore.Open(fileSystem, Directory));
    }

    /// <summary>docs/wal-format.md, "Snapshot store": header, configuration, data, trailer with a correct whole-file CRC.</summary>
    private static byte[] File(byte[] configuration, byte[] data, uint? dataCrc)
    {
        byte[] file = new byte[28 + configuration.Length + data.Length + 16];
        BinaryPrimitives.WriteUInt32LittleEndian(file, 0x4E534B52);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(8), 7);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(16), 2);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(24), (uint)configuration.Length);
        configuration.CopyTo(file, 28);
        data.CopyTo(file, 28 + configuration.Length);
        Span<byte> trailer = file.AsSpan(file.Length - 16);
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[8..], dataCrc ?? Crc32C.Compute(data));
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[12..], Crc32C.Compute(file.AsSpan(0, file.Length - 4)));
        return file;
    }
}
