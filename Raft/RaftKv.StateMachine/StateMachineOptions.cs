namespace RaftKv.StateMachine;

/// <summary>
/// Immutable options of the key-value state machine. Call <see cref="Validate"/> before use.
/// </summary>
/// <remarks>
/// Invariant: every replica of a cluster runs with the same <see cref="MaxKeyBytes"/>, <see cref="MaxValueBytes"/>,
/// <see cref="SessionTimeoutMs"/> and <see cref="MaxSessions"/>. They take part in Apply, so replicas with different
/// values would reach different states from the same log. The FASTER sizing options only affect performance.
/// </remarks>
public sealed record StateMachineOptions
{
    /// <summary>Largest key accepted. Empty keys are always invalid.</summary>
    public int MaxKeyBytes { get; init; } = 4 * 1024;

    /// <summary>Largest value accepted (an empty value is valid).</summary>
    public int MaxValueBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// A session whose last command is older than this, measured in the leader-assigned timestamps carried by the
    /// log (never the local clock), expires when a later command's timestamp passes it.
    /// </summary>
    public long SessionTimeoutMs { get; init; } = 60_000;

    /// <summary>Upper bound on live sessions; registering beyond it is refused with <see cref="KvStatus.TooManySessions"/>.</summary>
    public int MaxSessions { get; init; } = 100_000;

    /// <summary>Number of FASTER hash index buckets (64 bytes each, power of two). Every checkpoint writes the whole index.</summary>
    public long IndexBuckets { get; init; } = 1L << 16;

    /// <summary>FASTER log page size (power of two); a page must hold the largest record.</summary>
    public int LogPageSizeBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Memory given to the in-memory part of the FASTER log (power of two, at least two pages).</summary>
    public long LogMemorySizeBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Size of one FASTER log segment file on disk (power of two, at least one page).</summary>
    public long LogSegmentSizeBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// Log compaction (<see cref="FasterKvStateMachine.CompactLog"/>) waits until FASTER's log exceeds twice the live
    /// data by this much: the garbage it reclaims per run, and so the copying it amortizes. Affects only disk use
    /// and speed, not the state.
    /// </summary>
    public long CompactionMinimumLogBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Largest encoded command the state machine accepts; bounds decode work for a malicious proposer.</summary>
    public int MaxCommandBytes => MaxKeyBytes + 2 * MaxValueBytes + 64;

    /// <summary>
    /// Test-only (the simulator's teeth): a retry of a session's last sequence number is executed again instead of
    /// being answered from the session table, breaking exactly-once. Never set outside tests.
    /// </summary>
    internal bool TestFaultApplyRetriesTwice { get; init; }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxKeyBytes < 1) errors.Add("MaxKeyBytes must be at least 1.");
        if (MaxValueBytes < 0) errors.Add("MaxValueBytes must not be negative.");
        if ((long)MaxKeyBytes + MaxValueBytes > int.MaxValue / 4) errors.Add("MaxKeyBytes + MaxValueBytes is too large.");
        if (SessionTimeoutMs < 1) errors.Add("SessionTimeoutMs must be positive.");
        if (MaxSessions < 1) errors.Add("MaxSessions must be positive.");
        if (!IsPowerOfTwo(IndexBuckets) || IndexBuckets < 64) errors.Add("IndexBuckets must be a power of two, at least 64.");
        if (!IsPowerOfTwo(LogPageSizeBytes) || LogPageSizeBytes < 512) errors.Add("LogPageSizeBytes must be a power of two, at least 512.");
        // A record is key + value + 16 bytes of versions + FASTER's record header and length prefixes.
        if ((long)LogPageSizeBytes < 2L * (MaxKeyBytes + MaxValueBytes + 64)) errors.Add("LogPageSizeBytes must hold at least two of the largest records.");
        if (!IsPowerOfTwo(LogMemorySizeBytes) || LogMemorySizeBytes < 2L * LogPageSizeBytes) errors.Add("LogMemorySizeBytes must be a power of two of at least two pages.");
        if (!IsPowerOfTwo(LogSegmentSizeBytes) || LogSegmentSizeBytes < LogPageSizeBytes) errors.Add("LogSegmentSizeBytes must be a power of two of at least one page.");
        if (CompactionMinimumLogBytes < 0) errors.Add("CompactionMinimumLogBytes must not be negative.");
        return errors;
    }

    private static bool IsPowerOfTwo(long value) => value > 0 && (value & (value - 1)) == 0;
}
