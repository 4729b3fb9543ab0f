namespace RaftKv.Grains;

/// <summary>How fresh a read must be.</summary>
[GenerateSerializer, Alias("raftkv.ReadConsistency")]
public enum ReadConsistency
{
    /// <summary>Raft thesis 6.4 (ReadIndex): reflects every write acknowledged before the read started, or fails.</summary>
    Linearizable = 0,

    /// <summary>Whatever the serving node has applied; may be behind. Only when the caller asks for it by name.</summary>
    Stale = 1,
}

/// <summary>What a <see cref="KvWrite"/> does.</summary>
[GenerateSerializer, Alias("raftkv.KvWriteKind")]
public enum KvWriteKind
{
    Put = 1,
    Delete = 2,
    CompareAndSwap = 3,
}

/// <summary>The precondition of a compare-and-swap.</summary>
[GenerateSerializer, Alias("raftkv.KvCondition")]
public enum KvCondition
{
    None = 0,

    /// <summary>The key exists and its value equals <see cref="KvWrite.ExpectedValue"/> byte for byte.</summary>
    ValueEquals = 1,

    /// <summary>The key does not exist.</summary>
    Absent = 2,

    /// <summary>The key's modification revision equals <see cref="KvWrite.ExpectedModRevision"/> (0 means absent).</summary>
    ModRevisionEquals = 3,
}

/// <summary>
/// One write as it crosses a grain call. It is a contract type only: the silo turns it into the replicated command
/// (<c>RaftKv.StateMachine.KvCommand</c>), whose encoding is the one and only wire format of the log.
/// </summary>
[GenerateSerializer, Immutable, Alias("raftkv.KvWrite")]
public sealed record KvWrite
{
    [Id(0)] public KvWriteKind Kind { get; init; }

    [Id(1)] public byte[] Key { get; init; } = [];

    /// <summary>The value to write (Put, CompareAndSwap).</summary>
    [Id(2)] public byte[] Value { get; init; } = [];

    [Id(3)] public KvCondition Condition { get; init; }

    [Id(4)] public byte[] ExpectedValue { get; init; } = [];

    [Id(5)] public ulong ExpectedModRevision { get; init; }

    public static KvWrite Put(byte[] key, byte[] value) => new() { Kind = KvWriteKind.Put, Key = key, Value = value };

    public static KvWrite Delete(byte[] key) => new() { Kind = KvWriteKind.Delete, Key = key };

    public static KvWrite CompareValueAndSwap(byte[] key, byte[] expectedValue, byte[] newValue) =>
        new() { Kind = KvWriteKind.CompareAndSwap, Key = key, Condition = KvCondition.ValueEquals, ExpectedValue = expectedValue, Value = newValue };

    public static KvWrite CreateIfAbsent(byte[] key, byte[] newValue) =>
        new() { Kind = KvWriteKind.CompareAndSwap, Key = key, Condition = KvCondition.Absent, Value = newValue };

    public static KvWrite CompareRevisionAndSwap(byte[] key, ulong expectedModRevision, byte[] newValue) =>
        new() { Kind = KvWriteKind.CompareAndSwap, Key = key, Condition = KvCondition.ModRevisionEquals, ExpectedModRevision = expectedModRevision, Value = newValue };
}

/// <summary>How a write ended. Expected outcomes are values here; errors are exceptions (see <see cref="RaftKvException"/>).</summary>
[GenerateSerializer, Alias("raftkv.KvWriteStatus")]
public enum KvWriteStatus
{
    Ok = 0,

    /// <summary>Delete of a key that did not exist; nothing changed.</summary>
    NotFound = 1,

    /// <summary>The compare-and-swap condition did not hold; the result carries the key's current state.</summary>
    CompareFailed = 2,
}

/// <summary>
/// The outcome of a write. Revisions are Raft log indices (as etcd's): <see cref="CreateRevision"/> is the entry that
/// created the key, <see cref="ModRevision"/> the entry that last modified it.
/// </summary>
/// <remarks>
/// Put and a successful compare-and-swap: the key's new revisions. Delete: the revisions the key had before it was
/// deleted. CompareFailed: the key's current revisions and value (0, 0 and no value when the key is absent).
/// </remarks>
[GenerateSerializer, Immutable, Alias("raftkv.KvWriteResult")]
public sealed record KvWriteResult
{
    [Id(0)] public KvWriteStatus Status { get; init; }

    [Id(1)] public ulong CreateRevision { get; init; }

    [Id(2)] public ulong ModRevision { get; init; }

    /// <summary>The key's current value when a compare-and-swap failed and the key exists; otherwise null.</summary>
    [Id(3)] public byte[]? CurrentValue { get; init; }

    public bool Succeeded => Status == KvWriteStatus.Ok;
}

/// <summary>A key, its value and its revisions.</summary>
[GenerateSerializer, Immutable, Alias("raftkv.KvItem")]
public sealed record KvItem
{
    [Id(0)] public byte[] Key { get; init; } = [];

    [Id(1)] public byte[] Value { get; init; } = [];

    [Id(2)] public ulong CreateRevision { get; init; }

    [Id(3)] public ulong ModRevision { get; init; }
}

/// <summary>The role of a Raft node.</summary>
[GenerateSerializer, Alias("raftkv.RaftNodeRole")]
public enum RaftNodeRole
{
    Follower = 0,
    PreCandidate = 1,
    Candidate = 2,
    Leader = 3,
}

/// <summary>One member of the Raft configuration as a node sees it.</summary>
[GenerateSerializer, Immutable, Alias("raftkv.RaftMemberStatus")]
public sealed record RaftMemberStatus
{
    [Id(0)] public ulong NodeId { get; init; }

    /// <summary>The member's client gateway address (gRPC), empty if unknown.</summary>
    [Id(1)] public string ClientAddress { get; init; } = "";

    [Id(2)] public bool Voter { get; init; }

    /// <summary>The member's peer (Raft mesh) address, empty if unknown.</summary>
    [Id(3)] public string PeerAddress { get; init; } = "";
}

/// <summary>The Raft configuration (voters, learners, their addresses) and the leader, as the answering node sees them.</summary>
[GenerateSerializer, Immutable, Alias("raftkv.RaftMembership")]
public sealed record RaftMembership
{
    /// <summary>The node that answered.</summary>
    [Id(0)] public ulong NodeId { get; init; }

    /// <summary>0 if no leader is known.</summary>
    [Id(1)] public ulong LeaderId { get; init; }

    [Id(2)] public ulong Term { get; init; }

    /// <summary>True while a configuration change is not committed yet (never after a successful change).</summary>
    [Id(3)] public bool ConfigurationPending { get; init; }

    [Id(4)] public IReadOnlyList<RaftMemberStatus> Members { get; init; } = [];
}

/// <summary>A snapshot of one node's Raft state.</summary>
[GenerateSerializer, Immutable, Alias("raftkv.RaftNodeStatus")]
public sealed record RaftNodeStatus
{
    [Id(0)] public ulong NodeId { get; init; }

    [Id(1)] public RaftNodeRole Role { get; init; }

    [Id(2)] public ulong Term { get; init; }

    /// <summary>The leader this node knows of; 0 if none.</summary>
    [Id(3)] public ulong LeaderId { get; init; }

    [Id(4)] public ulong CommitIndex { get; init; }

    [Id(5)] public ulong AppliedIndex { get; init; }

    [Id(6)] public IReadOnlyList<RaftMemberStatus> Members { get; init; } = [];

    /// <summary>The leader's client gateway address (gRPC), empty if unknown.</summary>
    [Id(7)] public string LeaderClientAddress { get; init; } = "";

    /// <summary>True while the latest configuration change in this node's log is not committed yet.</summary>
    [Id(8)] public bool ConfigurationPending { get; init; }

    /// <summary>On the leader during a leadership transfer: the target; 0 otherwise.</summary>
    [Id(9)] public ulong LeadershipTransferTarget { get; init; }
}
