using RaftKv.Raft;

namespace RaftKv.StateMachine.Tests;

/// <summary>
/// The simulator's in-memory state machine must be FASTER's faithful twin: the same replies and the same canonical
/// snapshot bytes for the same log, including session expiry, retries, CAS and deletes.
/// </summary>
public sealed class MemoryTwinTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void The_memory_twin_replies_and_snapshots_exactly_like_FASTER(int seed)
    {
        var options = Driver.SmallOptions with { SessionTimeoutMs = 500 };
        using var faster = FasterKvStateMachine.Open(_temp.Sub("faster"), options);
        using var memory = new MemoryKvStateMachine(options);
        var random = new Random(seed);
        var sessions = new List<ulong>();
        var lastSequence = new Dictionary<ulong, ulong>();
        long now = 1_000;
        string[] keys = ["a", "b", "c"];
        for (ulong index = 1; index <= 400; index++)
        {
            now += random.Next(0, 60);
            byte[] key = Driver.Bytes(keys[random.Next(keys.Length)]);
            ulong session = sessions.Count == 0 ? 0 : sessions[random.Next(sessions.Count)];
            ulong sequence = session == 0 ? 1 : lastSequence.GetValueOrDefault(session) + (ulong)random.Next(0, 2); // 0: a retry
            byte[] value = Driver.Bytes($"v{index}");
            KvCommand command = random.Next(8) switch
            {
                0 => KvCommand.RegisterSession(now),
                1 => KvCommand.Delete(session, sequence, now, key),
                2 => KvCommand.CreateIfAbsent(session, sequence, now, key, value),
                3 => KvCommand.CompareValueAndSwap(session, sequence, now, key, Driver.Bytes($"v{random.Next(1, (int)index)}"), value),
                4 => KvCommand.KeepAlive(session, now),
                _ => KvCommand.Put(session, sequence, now, key, value),
            };
            LogEntry entry = random.Next(20) == 0 ? new LogEntry(index, 1, EntryType.NoOp, default) : LogEntry.Command(index, 1, command.Encode());
            byte[] fromFaster = faster.Apply(entry).ToArray();
            byte[] fromMemory = memory.Apply(entry).ToArray();
            Assert.Equal(fromFaster, fromMemory);
            if (KvReply.TryDecode(fromMemory, out var reply) && reply.Status == KvStatus.Ok)
            {
                if (command.Type == KvCommandType.RegisterSession) sessions.Add(reply.SessionId);
                else if (command.IsWrite) lastSequence[session] = Math.Max(lastSequence.GetValueOrDefault(session), sequence);
            }
        }
        byte[] fasterSnapshot = SnapshotOf(faster);
        Assert.Equal(fasterSnapshot, memory.SnapshotBytes());

        // Each restores the other's bytes.
        using var restored = new MemoryKvStateMachine(options);
        restored.Restore(faster.AppliedIndex, new MemoryStream(fasterSnapshot));
        Assert.Equal(fasterSnapshot, restored.SnapshotBytes());
    }

    [Fact]
    public void Snapshots_order_keys_that_share_their_first_bytes_and_carry_large_records_and_records_on_disk_like_the_twin()
    {
        // FASTER's snapshot sorts keys by their first eight bytes and compares whole keys only on ties, and reads the
        // records by address a window at a time (those that left memory from disk, completing in any order): keys
        // that differ only past byte 8, prefixes of other keys, zero bytes and high bytes, and records of every size,
        // must come out byte for byte as the twin's plain sort writes them.
        using var faster = FasterKvStateMachine.Open(_temp.Sub("faster"), Driver.SmallOptions);
        using var memory = new MemoryKvStateMachine(Driver.SmallOptions);
        var random = new Random(7);
        string[] stems = ["", "a", "ab", "abcdefg", "abcdefgh", "abcdefgh\0", "abcdefghi", "abcdefghij", "abcdefgh\u00ff", "b", "\0", "\u00ff\u00ff"];
        var keys = new List<byte[]>();
        foreach (string stem in stems)
        {
            for (int suffix = 0; suffix < 4; suffix++) keys.Add(Driver.Bytes(stem + new string('x', suffix)));
        }
        keys.RemoveAll(key => key.Length == 0);
        ulong index = 1;
        faster.Apply(LogEntry.Command(index, 1, KvCommand.RegisterSession(1).Encode()));
        memory.Apply(LogEntry.Command(index, 1, KvCommand.RegisterSession(1).Encode()));
        void Put(byte[] key, byte[] value)
        {
            index++;
            LogEntry entry = LogEntry.Command(index, 1, KvCommand.Put(1, index, 1, key, value).Encode());
            Assert.True(KvReply.TryDecode(faster.Apply(entry), out var reply) && reply.Status == KvStatus.Ok, $"put {index} failed");
            memory.Apply(entry);
        }
        for (int round = 0; round < 3; round++)
        {
            foreach (byte[] key in keys)
            {
                byte[] value = new byte[random.Next(4) == 0 ? random.Next(4_000, 16 * 1024) : random.Next(0, 64)];
                random.NextBytes(value);
                Put(key, value);
            }
        }
        // Then enough new keys to push every record above out of FASTER's 256 KB of memory onto disk: the snapshot
        // reads those back from disk.
        long writtenBefore = faster.LogSizeBytes;
        for (int filler = 0; filler < 48; filler++)
        {
            keys.Add(Driver.Bytes($"~filler-{filler}"));
            Put(keys[^1], new byte[8 * 1024]);
        }
        Assert.True(faster.LogSizeBytes - writtenBefore > Driver.SmallOptions.LogMemorySizeBytes, "the test needs the records above on disk");

        byte[] fasterSnapshot = SnapshotOf(faster);
        Assert.Equal(memory.SnapshotBytes(), fasterSnapshot);
        Assert.Equal((ulong)keys.Count, FasterKvStateMachine.VerifySnapshot(index, new MemoryStream(fasterSnapshot), Driver.SmallOptions));
    }

    [Fact]
    public void A_retry_is_answered_from_the_session_table_unless_the_test_fault_is_on()
    {
        foreach (bool fault in new[] { false, true })
        {
            using var memory = new MemoryKvStateMachine(Driver.SmallOptions with { TestFaultApplyRetriesTwice = fault });
            memory.Apply(LogEntry.Command(1, 1, KvCommand.RegisterSession(1).Encode()));
            byte[] put = KvCommand.Put(1, 1, 1, Driver.Bytes("k"), Driver.Bytes("v")).Encode();
            KvReply.TryDecode(memory.Apply(LogEntry.Command(2, 1, put)), out var first);
            KvReply.TryDecode(memory.Apply(LogEntry.Command(3, 1, put)), out var retry);
            Assert.Equal(2UL, first!.Version.ModIndex);
            Assert.Equal(fault ? 3UL : 2UL, retry!.Version.ModIndex);
        }
    }

    private static byte[] SnapshotOf(FasterKvStateMachine machine)
    {
        using var snapshot = machine.TakeSnapshot();
        using var buffer = new MemoryStream();
        snapshot.WriteTo(buffer);
        return buffer.ToArray();
    }
}
