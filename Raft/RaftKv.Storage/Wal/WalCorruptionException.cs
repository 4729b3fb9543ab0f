namespace RaftKv.Storage.Wal;

/// <summary>
/// The WAL found damage that a crash cannot explain (see docs/wal-format.md, recovery table). The node must not
/// start: continuing would silently drop entries it may have acknowledged. An operator must repair or replace
/// the node's data (for example by re-joining it as a new member).
/// </summary>
public sealed class WalCorruptionException(string path, long offset, string reason)
    : Exception($"WAL corruption in '{path}' at byte offset {offset}: {reason}. Refusing to start rather than lose acknowledged entries.")
{
    public string Path { get; } = path;

    public long Offset { get; } = offset;

    public string Reason { get; } = reason;
}
