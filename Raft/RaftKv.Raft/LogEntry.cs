namespace RaftKv.Raft;

/// <summary>What a log entry carries.</summary>
public enum EntryType : byte
{
    /// <summary>An application command for the replicated state machine.</summary>
    Command = 0,

    /// <summary>The empty entry a new leader appends to commit its term (Raft thesis 3.6.2, 6.4).</summary>
    NoOp = 1,

    /// <summary>A cluster configuration; <see cref="LogEntry.Data"/> holds <see cref="ClusterConfiguration.Encode"/>.</summary>
    Configuration = 2,
}

/// <summary>
/// One Raft log entry. Two entries with the same <see cref="Index"/> and <see cref="Term"/> are identical
/// (Raft thesis 3.5, Log Matching), because a leader creates at most one entry per index in its term.
/// </summary>
public readonly record struct LogEntry(ulong Index, ulong Term, EntryType Type, ReadOnlyMemory<byte> Data)
{
    /// <summary>Approximate in-memory and on-wire size, used to bound AppendEntries batches.</summary>
    public int SizeBytes => Data.Length + 24;

    public static LogEntry Command(ulong index, ulong term, ReadOnlyMemory<byte> data) =>
        new(index, term, EntryType.Command, data);

    public override string ToString() => $"{Index}@{Term}:{Type}({Data.Length}B)";
}
