using System.Buffers.Binary;
using RaftKv.Raft;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Fuzz.Tests;

/// <summary>
/// Crashes AFL++ found in the wal-recovery target. Each record below has a valid CRC (a writer bug or a forged file,
/// not rot), so recovery must refuse to start with <see cref="WalCorruptionException"/> naming the file and offset.
/// </summary>
public sealed class WalRegressionTests
{
    private const byte EntryRecord = 1;
    private const byte HardStateRecord = 2;
    private const byte SnapshotRecord = 3;
    private const byte TruncateRecord = 4;
    private const long SecondRecordOffset = 40; // after the 36-byte (padded) HardState record

    private static readonly FuzzTarget Target = FuzzTargets.Get("wal-recovery");

    /// <summary>Found by AFL++: a 16-byte Entry payload made DecodeEntry index past the span (IndexOutOfRangeException).</summary>
    [Fact]
    public async Task Entry_payload_shorter_than_its_prefix_is_corruption_not_IndexOutOfRange()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("wal-recovery", "crash-entry-payload-shorter-than-prefix")));

        var exception = AssertCorrupt(Record(EntryRecord, Entry(1, 1, 0, [])[..16]));
        Assert.Contains("Entry payload is 16 bytes", exception.Reason, StringComparison.Ordinal);
    }

    /// <summary>Found by AFL++: an entry of unknown type (98) was recovered and would have been handed to Raft.</summary>
    [Fact]
    public async Task Entry_of_unknown_type_is_corruption()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("wal-recovery", "crash-unknown-entry-type")));

        var exception = AssertCorrupt(Record(EntryRecord, Entry(1, 1, 98, [])));
        Assert.Contains("unknown entry type 98", exception.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// Found by AFL++: a configuration entry whose data does not decode was recovered; Raft decodes it on restart
    /// (RebuildConfigurationHistory) and would have failed there with a FormatException and no file or offset.
    /// </summary>
    [Fact]
    public async Task Configuration_entry_that_does_not_decode_is_corruption()
    {
        Assert.Equal(FuzzOutcome.Rejected, await Corpus.ExecuteAsync(Target, Corpus.Read("wal-recovery", "crash-undecodable-configuration-entry")));

        var exception = AssertCorrupt(Record(EntryRecord, Entry(1, 1, (byte)EntryType.Configuration, [1, 2, 3])));
        Assert.Contains("does not decode", exception.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Snapshot_record_with_unknown_mode_is_corruption()
    {
        byte[] payload = new byte[17 + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, 5);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), 1);
        payload[16] = 7;
        new ClusterConfiguration([1]).Encode().CopyTo(payload, 17);

        var exception = AssertCorrupt(Record(SnapshotRecord, payload));
        Assert.Contains("unknown mode 7", exception.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncate_record_of_the_wrong_length_is_corruption()
    {
        var exception = AssertCorrupt(Record(TruncateRecord, new byte[12]));
        Assert.Contains("exactly 8", exception.Reason, StringComparison.Ordinal);
    }

    /// <summary>Found in review of the wal-recovery target: after entry ulong.MaxValue the expected next index wrapped to 0.</summary>
    [Fact]
    public void Entry_after_index_ulong_max_is_corruption_not_a_wrapped_index()
    {
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        byte[] hardState = new byte[24];
        fileSystem.WriteAllBytesDurably($"/wal/{ulong.MaxValue:D20}.wal",
            [.. Record(HardStateRecord, hardState), .. Record(EntryRecord, Entry(ulong.MaxValue, 1, 0, [])), .. Record(EntryRecord, Entry(0, 1, 0, []))]);

        var exception = Assert.Throws<WalCorruptionException>(() => WriteAheadLog.Open(fileSystem, "/wal", new WalOptions()));

        Assert.Equal(SecondRecordOffset + 32, exception.Offset);
        Assert.Contains("does not follow last index 18446744073709551615", exception.Reason, StringComparison.Ordinal);
    }

    /// <summary>Opens a WAL whose only segment holds a valid HardState record and then <paramref name="record"/>.</summary>
    private static WalCorruptionException AssertCorrupt(byte[] record)
    {
        var fileSystem = new SimulatedFileSystem(new DeterministicRandom(1));
        byte[] hardState = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(hardState, 1);
        fileSystem.WriteAllBytesDurably("/wal/00000000000000000001.wal", [.. Record(HardStateRecord, hardState), .. record]);

        var exception = Assert.Throws<WalCorruptionException>(() => WriteAheadLog.Open(fileSystem, "/wal", new WalOptions()));
        Assert.Equal(SecondRecordOffset, exception.Offset);
        return exception;
    }

    private static byte[] Entry(ulong index, ulong term, byte type, byte[] data)
    {
        byte[] payload = new byte[17 + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, index);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), term);
        payload[16] = type;
        data.CopyTo(payload, 17);
        return payload;
    }

    /// <summary>docs/wal-format.md framing: [crc u32][length u32][type u8][reserved 3][payload][zero padding to 8].</summary>
    private static byte[] Record(byte type, byte[] payload)
    {
        byte[] record = new byte[(12 + payload.Length + 7) & ~7];
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), (uint)payload.Length);
        record[8] = type;
        payload.CopyTo(record, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(record, Crc32C.Compute(record.AsSpan(4)));
        return record;
    }
}
