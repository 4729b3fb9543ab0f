using Google.Protobuf;
using RaftKv.Mesh;
using RaftKv.Raft;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Fuzz.Tests;

/// <summary>Crashes AFL++ found in the raft-message target, each kept as a corpus file and pinned here.</summary>
public sealed class RaftMessageRegressionTests
{
    private static readonly FuzzTarget Target = FuzzTargets.Get("raft-message");

    /// <summary>
    /// Found by AFL++: an InstallSnapshot whose configuration names node 0 escaped the codec as
    /// RaftInvariantException from the ClusterConfiguration constructor. Decode now reports it as a format error.
    /// </summary>
    [Fact]
    public async Task Snapshot_configuration_naming_node_zero_is_rejected_as_InvalidDataException()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("raft-message", "crash-snapshot-configuration-node-zero")));

        var wire = new Wire.RaftMessage
        {
            Type = Wire.RaftMessageType.InstallSnapshot, From = 1, To = 2, Term = 3,
            Snapshot = new Wire.SnapshotMetadata { Index = 5, Term = 3, Configuration = ByteString.CopyFrom(Configuration(voters: [0, 2], learners: [])) },
        };
        var exception = Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wire));
        Assert.Contains("node id 0", exception.Message, StringComparison.Ordinal);
    }

    /// <summary>Found by AFL++ in the same run: the constructor's other invariant, a node both voter and learner.</summary>
    [Fact]
    public async Task Snapshot_configuration_naming_a_node_as_voter_and_learner_is_rejected_as_InvalidDataException()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("raft-message", "crash-snapshot-configuration-voter-and-learner")));

        var wire = new Wire.RaftMessage
        {
            Type = Wire.RaftMessageType.InstallSnapshot, From = 1, To = 2, Term = 3,
            Snapshot = new Wire.SnapshotMetadata { Index = 5, Term = 3, Configuration = ByteString.CopyFrom(Configuration(voters: [1, 2], learners: [2])) },
        };

        var exception = Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wire));
        Assert.Contains("node 2 twice", exception.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Found by AFL++: MessageType is a byte and the wire enum an int32, so wire type 1082196484 was cast to 4 and
    /// taken for RequestVoteResponse. An out-of-range type is now refused like any other unknown type.
    /// </summary>
    [Fact]
    public async Task Message_type_outside_the_byte_range_is_rejected_not_wrapped()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("raft-message", "crash-message-type-wraps-to-byte")));

        var wire = new Wire.RaftMessage { Type = (Wire.RaftMessageType)(256 + (int)MessageType.AppendEntries), From = 1, To = 2, Term = 3 };
        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wire));
        wire.Type = (Wire.RaftMessageType)(-251);
        Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wire));
    }

    [Fact]
    public void Entry_type_outside_the_byte_range_is_rejected_not_wrapped()
    {
        var wire = new Wire.RaftMessage { Type = Wire.RaftMessageType.AppendEntries, From = 1, To = 2, Term = 3 };
        wire.Entries.Add(new Wire.Entry { Index = 1, Term = 3, Type = (Wire.RaftEntryType)(256 + (int)EntryType.Configuration) });

        var exception = Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wire));
        Assert.Contains("unknown entry type", exception.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Found by AFL++ (second run, with the check that nothing Raft cannot interpret is accepted): an AppendEntries
    /// carrying a configuration entry whose data does not decode was accepted, and RaftNode.OnConfigurationAppended
    /// would then throw FormatException inside the core's step, from one forged peer message.
    /// </summary>
    [Fact]
    public async Task Configuration_entry_that_does_not_decode_is_rejected_as_InvalidDataException()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("raft-message", "crash-configuration-entry-does-not-decode")));

        var wire = new Wire.RaftMessage { Type = Wire.RaftMessageType.AppendEntries, From = 1, To = 2, Term = 3 };
        wire.Entries.Add(new Wire.Entry { Index = 1, Term = 3, Type = Wire.RaftEntryType.Configuration, Data = ByteString.CopyFrom(1, 2, 3) });
        var exception = Assert.Throws<InvalidDataException>(() => RaftMessageCodec.FromProto(wire));
        Assert.Contains("malformed configuration entry 1", exception.Message, StringComparison.Ordinal);
    }

    internal static byte[] Configuration(ulong[] voters, ulong[] learners)
    {
        byte[] bytes = new byte[8 + 8 * (voters.Length + learners.Length)];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)voters.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)learners.Length);
        int offset = 8;
        foreach (ulong id in voters.Concat(learners))
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offset), id);
            offset += 8;
        }
        return bytes;
    }
}
