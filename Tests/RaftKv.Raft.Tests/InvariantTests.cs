using RaftKv.Raft;

namespace RaftKv.Raft.Tests;

/// <summary>Checks and slices that run on every append, apply and replication message: what they cost when all is well.</summary>
public sealed class InvariantTests
{
    [Fact]
    public void A_holding_check_with_an_interpolated_message_allocates_nothing()
    {
        ulong index = 41, last = 40;
        Invariant.Check(index == last + 1, $"append of {index} after last index {last}"); // JIT and first-call work
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) Invariant.Check(index == last + 1, $"append of {index} after last index {last}");
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void A_failing_check_throws_with_its_formatted_message()
    {
        ulong index = 43, last = 40;
        var failure = Assert.Throws<RaftInvariantException>(() => Invariant.Check(index == last + 1, $"append of {index} after last index {last}"));
        Assert.Equal("append of 43 after last index 40", failure.Message);
        Assert.Equal("plain", Assert.Throws<RaftInvariantException>(() => Invariant.Check(false, "plain")).Message);
    }

    [Fact]
    public void A_slice_holds_the_requested_entries_and_stops_at_the_byte_limit()
    {
        var log = new RaftLog(new SnapshotMetadata(0, 0, new ClusterConfiguration([1UL])));
        for (ulong i = 1; i <= 10; i++) log.Append(new LogEntry(i, 1, EntryType.Command, new byte[100]));
        List<LogEntry> all = log.Slice(3, 10, int.MaxValue);
        Assert.Equal([3UL, 4, 5, 6, 7, 8, 9, 10], all.Select(e => e.Index));
        Assert.Equal(all.Count, all.Capacity);
        List<LogEntry> limited = log.Slice(3, 10, (int)(2.5 * log.Slice(1, 1, int.MaxValue)[0].SizeBytes));
        Assert.Equal([3UL, 4], limited.Select(e => e.Index));
        Assert.Equal([5UL], log.Slice(5, 10, 1).Select(e => e.Index)); // always at least one
        Assert.Empty(log.Slice(6, 5, int.MaxValue));
    }
}
