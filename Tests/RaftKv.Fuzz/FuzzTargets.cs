using Google.Protobuf;
using RaftKv.Fuzz.Targets;
using RaftKv.Storage.Snapshots;
using RaftKv.Storage.Wal;

namespace RaftKv.Fuzz;

/// <summary>The fuzz targets, by name: one per parser that takes bytes from outside the node.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("wal-recovery",
            "WriteAheadLog.Open over a WAL directory image (segments in a simulated file system), then reads and one append",
            WalRecoveryTarget.Run, [typeof(WalCorruptionException)], WalRecoveryTarget.Seeds),
        new("snapshot-file",
            "SnapshotStore.Open over one snapshot file, then the data read back and cut into chunks",
            SnapshotFileTarget.Run, [typeof(SnapshotCorruptionException)], SnapshotFileTarget.Seeds),
        new("snapshot-chunks",
            "a stream of protobuf SnapshotChunk messages through RaftMessageCodec into a SnapshotReceiver",
            SnapshotChunksTarget.Run, [typeof(InvalidProtocolBufferException), typeof(InvalidDataException)], SnapshotChunksTarget.Seeds),
        new("raft-message",
            "protobuf MessageBatch, SnapshotChunk and ChunkReceipt through RaftMessageCodec.FromProto, with a round trip",
            RaftMessageTarget.Run, [typeof(InvalidProtocolBufferException), typeof(InvalidDataException)], RaftMessageTarget.Seeds),
        new("kv-codec",
            "KvCommand.TryDecode and KvReply.TryDecode, then Validate and an encode/decode round trip",
            KvCodecTarget.Run, [], KvCodecTarget.Seeds),
        new("gateway-request",
            "the protobuf parse of each client request type, then the gateway's KvRequestValidation",
            GatewayRequestTarget.Run, [typeof(InvalidProtocolBufferException)], GatewayRequestTarget.Seeds),
    ];

    public static FuzzTarget Get(string name) =>
        All.FirstOrDefault(target => target.Name == name)
        ?? throw new ArgumentException($"unknown fuzz target '{name}'; known: {string.Join(", ", All.Select(t => t.Name))}", nameof(name));
}
