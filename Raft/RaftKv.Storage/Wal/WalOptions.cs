namespace RaftKv.Storage.Wal;

/// <summary>Options of a <see cref="WriteAheadLog"/>. Immutable; check with <see cref="Validate"/>.</summary>
public sealed record WalOptions
{
    /// <summary>
    /// A segment that has reached this size is closed and a new one started at the next <see cref="WriteAheadLog.Save"/>.
    /// A soft limit: a segment exceeds it by at most one batch. Whole segments are the unit of deletion after a snapshot.
    /// </summary>
    public long SegmentSizeBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>The largest record payload accepted; a larger length found on disk is treated as damage.</summary>
    public int MaxRecordSizeBytes { get; init; } = 16 * 1024 * 1024;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (SegmentSizeBytes < 1024)
        {
            errors.Add($"{nameof(SegmentSizeBytes)} must be at least 1024, was {SegmentSizeBytes}");
        }
        if (MaxRecordSizeBytes < 1024 || MaxRecordSizeBytes > 1024 * 1024 * 1024)
        {
            errors.Add($"{nameof(MaxRecordSizeBytes)} must be in [1024, 1 GiB], was {MaxRecordSizeBytes}");
        }
        return errors;
    }
}
