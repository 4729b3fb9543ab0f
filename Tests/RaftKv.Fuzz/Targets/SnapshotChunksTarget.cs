using Google.Protobuf;
using RaftKv.Mesh;
using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Fuzz.Targets;

/// <summary>
/// InstallSnapshot as a follower receives it: [flags u8] then length-delimited <see cref="Wire.SnapshotChunk"/>
/// messages, each decoded by <see cref="RaftMessageCodec"/> and given to a <see cref="SnapshotReceiver"/> over a
/// <see cref="SimulatedFileSystem"/>. Bad chunks must be refused (an exception of the codec's documented types, or a
/// receipt); a completed transfer must reopen from the store with the promised metadata, length and CRC.
/// </summary>
public static class SnapshotChunksTarget
{
    public const string Directory = "/snapshots";

    /// <summary>Flag bit: recompute each chunk's CRC so that mutated data reaches the receiver's ordering and length logic.</summary>
    public const byte FixChunkChecksums = 1;

    private const int MaxChunks = 64;

    public static FuzzOutcome Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return FuzzOutcome.Rejected;
        }
        bool fix = (input[0] & FixChunkChecksums) != 0;
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        SnapshotStore store = SnapshotStore.Open(fileSystem, Directory);
        using var receiver = new SnapshotReceiver(store);
        using var stream = new MemoryStream(input, 1, input.Length - 1, writable: false);
        FuzzOutcome outcome = FuzzOutcome.Rejected;
        for (int i = 0; i < MaxChunks && stream.Position < stream.Length; i++)
        {
            Wire.SnapshotChunk wire = Wire.SnapshotChunk.Parser.ParseDelimitedFrom(stream);
            if (fix)
            {
                wire.ChunkCrc = Crc32C.Compute(wire.Data.Span);
            }
            (_, SnapshotChunk chunk) = RaftMessageCodec.FromProto(wire);
            ChunkReceipt receipt = receiver.Accept(chunk);
            if (receipt.NextOffsetBytes < 0 || !Enum.IsDefined(receipt.Outcome))
            {
                throw new FuzzPropertyException($"receipt {receipt} for chunk at {chunk.OffsetBytes}");
            }
            if (receipt.Outcome == ChunkOutcome.Completed)
            {
                CheckPublished(fileSystem, chunk);
                outcome = FuzzOutcome.Accepted;
            }
        }
        return outcome;
    }

    private static void CheckPublished(SimulatedFileSystem fileSystem, in SnapshotChunk last)
    {
        SnapshotStore reopened = SnapshotStore.Open(fileSystem, Directory);
        if (reopened.Latest != last.Metadata || reopened.LatestLengthBytes != last.TotalLengthBytes || reopened.LatestDataCrc != last.SnapshotCrc
            || Crc32C.Compute(reopened.ReadLatestData()) != last.SnapshotCrc)
        {
            throw new FuzzPropertyException($"completed snapshot {last.Metadata} reopened as {reopened.Latest} ({reopened.LatestLengthBytes} bytes)");
        }
    }

    public static IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        var metadata = new SnapshotMetadata(12, 2, new ClusterConfiguration([1, 2, 3]));
        var install = new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 2, Snapshot = metadata };
        byte[] data = new byte[100];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i * 7);
        }
        yield return ("one-chunk", Stream(install, data, 100, [0]));
        yield return ("three-chunks", Stream(install, data, 40, [0, 40, 80]));
        yield return ("resend-after-gap", Stream(install, data, 40, [0, 80, 40, 80]));
        yield return ("empty-snapshot", Stream(install, [], 40, [0]));
    }

    private static byte[] Stream(Message install, byte[] data, int chunkSizeBytes, long[] offsets)
    {
        using var stream = new MemoryStream();
        stream.WriteByte(FixChunkChecksums);
        uint snapshotCrc = Crc32C.Compute(data);
        foreach (long offset in offsets)
        {
            byte[] piece = data.AsSpan((int)offset, Math.Min(chunkSizeBytes, data.Length - (int)offset)).ToArray();
            var chunk = new SnapshotChunk(install.Snapshot!, offset, piece, Crc32C.Compute(piece), data.Length, snapshotCrc);
            RaftMessageCodec.ToProto(install, chunk).WriteDelimitedTo(stream);
        }
        return stream.ToArray();
    }
}
