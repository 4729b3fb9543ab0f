using RaftKv.Node;
using System.Collections.Concurrent;
using RaftKv.ClientGateway;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Gateway.Tests.Infrastructure;

/// <summary>
/// An in-memory twin of the silo for gateway tests: no Raft, one replica. A proposal is "committed" at once by
/// applying it to a real <see cref="FasterKvStateMachine"/> at the next log index. Faults: no leader, not the
/// leader, and a lost reply (the entry is applied, then the caller sees <see cref="UnavailableException"/>).
/// </summary>
public sealed class FakeRaftKvNode : IRaftKvNode, IDisposable
{
    public static readonly StateMachineOptions SmallOptions = new()
    {
        MaxKeyBytes = 256,
        MaxValueBytes = 16 * 1024,
        SessionTimeoutMs = 10_000,
        MaxSessions = 1000,
        IndexBuckets = 1024,
        LogPageSizeBytes = 64 * 1024,
        LogMemorySizeBytes = 256 * 1024,
        LogSegmentSizeBytes = 1024 * 1024,
    };

    private readonly object _applyLock = new();
    private readonly string _directory;
    private long _lastIndex;
    private int _repliesToDrop;
    private long _leaderId;

    public FakeRaftKvNode(ulong nodeId, IReadOnlyList<ulong>? members = null)
    {
        NodeId = nodeId;
        Members = members ?? [nodeId];
        _leaderId = (long)nodeId;
        _directory = Path.Combine(Path.GetTempPath(), "raftkv-gateway-tests", Guid.NewGuid().ToString("N"));
        StateMachine = FasterKvStateMachine.Open(_directory, SmallOptions);
    }

    public ulong NodeId { get; }

    public IReadOnlyList<ulong> Members { get; }

    /// <summary>Who this node believes leads; 0 for nobody. Starts as this node.</summary>
    public ulong LeaderId
    {
        get => (ulong)Interlocked.Read(ref _leaderId);
        set => Interlocked.Exchange(ref _leaderId, (long)value);
    }

    /// <summary>Client addresses by node id, for leader hints and forwarding.</summary>
    public ConcurrentDictionary<ulong, string> Addresses { get; } = new();

    /// <summary>The index of the last entry applied (each proposal takes one).</summary>
    public ulong LastIndex => (ulong)Interlocked.Read(ref _lastIndex);

    public FasterKvStateMachine StateMachine { get; }

    IKvStateMachine IRaftKvNode.StateMachine => StateMachine;

    public RaftStatus Status => new(NodeId, LeaderId == NodeId ? RaftRole.Leader : RaftRole.Follower, 1, LeaderId, LeaderId, LastIndex,
        StateMachine.AppliedIndex, LastIndex, 0, new ClusterConfiguration(Members));

    /// <summary>The next <paramref name="count"/> proposals are applied, but their callers see <see cref="UnavailableException"/>.</summary>
    public void DropNextReplies(int count) => Interlocked.Exchange(ref _repliesToDrop, count);

    public Task<ReadOnlyMemory<byte>> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ulong leader = LeaderId;
        if (leader != NodeId) throw new NotLeaderException(leader);
        if (ProposeFault is { } proposeFault) throw proposeFault;
        ReadOnlyMemory<byte> reply;
        lock (_applyLock)
        {
            ulong index = (ulong)Interlocked.Increment(ref _lastIndex);
            reply = StateMachine.Apply(new LogEntry(index, 1, EntryType.Command, command.ToArray())).ToArray();
        }
        if (TryConsumeDrop()) throw new UnavailableException("leadership lost before the reply (simulated)");
        return Task.FromResult(reply);
    }

    /// <summary>When set, linearizable reads wait (until their caller cancels), as on a node whose leader does not answer.</summary>
    public bool HoldReads { get; set; }

    /// <summary>Reads that reached <see cref="ReadIndexAsync"/>.</summary>
    public int ReadsStarted => Volatile.Read(ref _readsStarted);

    private int _readsStarted;

    public Task ReadIndexAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _readsStarted);
        if (HoldReads) return Task.Delay(Timeout.Infinite, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        // A single replica that applies synchronously: everything committed is applied. With no leader, a real node
        // cannot confirm a read index either.
        if (LeaderId == 0) throw new UnavailableException("no leader to confirm the read index");
        return Task.CompletedTask;
    }

    public string? ClientAddressOf(ulong nodeId) => Addresses.TryGetValue(nodeId, out string? address) ? address : null;

    /// <summary>When set, proposals throw it (after the leader check) instead of applying.</summary>
    public Exception? ProposeFault { get; set; }

    /// <summary>When set, membership calls on the leader throw it instead of changing anything.</summary>
    public Exception? AdminFault { get; set; }

    /// <summary>Learners added through the admin calls (voters are <see cref="Members"/>).</summary>
    public ConcurrentDictionary<ulong, NodeMember> Learners { get; } = new();

    /// <summary>Every admin call that reached this node as leader: "add 4", "promote 4", "remove 2", "transfer 3".</summary>
    public ConcurrentQueue<string> AdminCalls { get; } = new();

    public ClusterMembership Membership => new(NodeId, LeaderId, 1, false,
        [.. Members.Select(id => new RaftMember(id, true, "", ClientAddressOf(id) ?? "")),
         .. Learners.Values.OrderBy(m => m.Id).Select(m => new RaftMember(m.Id, false, m.PeerAddress, m.ClientAddress))]);

    public Task<ClusterMembership> AddLearnerAsync(NodeMember member, CancellationToken cancellationToken) => Admin($"add {member.Id}", () => Learners[member.Id] = member);

    public Task<ClusterMembership> PromoteLearnerAsync(ulong nodeId, CancellationToken cancellationToken) => Admin($"promote {nodeId}", () => { });

    public Task<ClusterMembership> RemoveMemberAsync(ulong nodeId, CancellationToken cancellationToken) => Admin($"remove {nodeId}", () => Learners.TryRemove(nodeId, out _));

    public Task<ClusterMembership> TransferLeadershipAsync(ulong target, CancellationToken cancellationToken) => Admin($"transfer {target}", () => { });

    private Task<ClusterMembership> Admin(string call, Action change)
    {
        ulong leader = LeaderId;
        if (leader != NodeId) throw new NotLeaderException(leader);
        if (AdminFault is { } fault) throw fault;
        AdminCalls.Enqueue(call);
        change();
        return Task.FromResult(Membership);
    }

    public void Dispose()
    {
        StateMachine.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory does not affect other tests (each uses a fresh one).
        }
    }

    private bool TryConsumeDrop()
    {
        while (true)
        {
            int current = Volatile.Read(ref _repliesToDrop);
            if (current <= 0) return false;
            if (Interlocked.CompareExchange(ref _repliesToDrop, current - 1, current) == current) return true;
        }
    }
}
