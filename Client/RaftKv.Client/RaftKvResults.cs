using Grpc.Core;

namespace RaftKv.Client;

/// <summary>How a read is served: through ReadIndex (default) or from the contacted replica's local state.</summary>
public enum ReadConsistency
{
    Linearizable = 0,
    Stale = 1,
}

/// <summary>A key as stored; revisions are Raft log indices.</summary>
public sealed record KvItem(byte[] Key, byte[] Value, ulong CreateRevision, ulong ModRevision);

public readonly record struct PutResult(ulong CreateRevision, ulong ModRevision);

/// <summary><see cref="Deleted"/> is false when the key did not exist; the revisions are those the key had.</summary>
public readonly record struct DeleteResult(bool Deleted, ulong CreateRevision, ulong ModRevision);

/// <summary>
/// On success, the key's new revisions. On failure, its current revisions and value (<see cref="CurrentValue"/> is
/// null when the key does not exist).
/// </summary>
public sealed record CasResult(bool Succeeded, ulong CreateRevision, ulong ModRevision, byte[]? CurrentValue);

/// <summary>The precondition of a compare-and-swap.</summary>
public abstract record CasExpectation
{
    private CasExpectation() { }

    public static CasExpectation Value(byte[] expected) => new ValueEquals(expected);

    public static CasExpectation Absent { get; } = new KeyAbsent();

    public static CasExpectation ModRevision(ulong revision) => new ModRevisionEquals(revision);

    public sealed record ValueEquals(byte[] Expected) : CasExpectation;

    public sealed record KeyAbsent : CasExpectation;

    public sealed record ModRevisionEquals(ulong Revision) : CasExpectation;
}

/// <summary>
/// The client's session expired. <see cref="InDoubt"/> is true when an earlier attempt of the failed write ended in a
/// way that may have applied it (the gateway did not answer "raftkv-may-have-applied: false"), so it may have been
/// applied before the session expired: the client never re-sends such a write under a new session. The next request
/// registers a new session.
/// </summary>
public sealed class RaftKvSessionExpiredException(bool inDoubt, RpcException inner)
    : Exception(inDoubt ? "the session expired while a write was in doubt; it may or may not have been applied" : "the session expired; the write was not applied", inner)
{
    public bool InDoubt { get; } = inDoubt;
}

/// <summary>A snapshot saved by <see cref="RaftKvClient.SaveSnapshotAsync"/>: the log index it reflects, that entry's term, its size and CRC32C, and the gateway that sent it.</summary>
public sealed record SnapshotSaveResult(ulong Index, ulong Term, ulong TotalBytes, uint Crc32C, string Endpoint);
