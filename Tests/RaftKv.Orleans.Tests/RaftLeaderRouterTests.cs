using System.Collections.Immutable;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RaftKv.Grains;
using RaftKv.Node;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Orleans.Tests;

/// <summary>
/// The grains' retry loop (session grains, KV grains) against a scripted grain service, no cluster: which attempts may have proposed a
/// write (after one of those, a later "session expired" is in doubt, not a refusal) and what it says when it gives up.
/// </summary>
public sealed class RaftLeaderRouterTests
{
    private const ulong LocalNodeId = 1;

    [Fact]
    public async Task A_session_expiry_after_an_attempt_that_may_have_been_proposed_is_in_doubt()
    {
        // Leadership lost while the entry was in flight (the next leader may commit it), then the retry finds the
        // session expired: the first attempt may have been applied before the expiry.
        var service = new ScriptedService(
            new RaftKvUnavailableException("node 1: leadership lost; retry", LocalNodeId),
            new RaftKvSessionExpiredException(7));

        var expired = await Assert.ThrowsAsync<RaftKvSessionExpiredException>(() => Write(service));

        Assert.True(expired.InDoubt);
        Assert.Equal(7UL, expired.SessionId);
        Assert.Equal(2, service.Attempts);
    }

    [Fact]
    public async Task A_session_expiry_after_attempts_that_were_only_refused_is_a_refusal()
    {
        // A follower's "not leader" proposes nothing.
        var service = new ScriptedService(new RaftKvNotLeaderException(2, LocalNodeId), new RaftKvSessionExpiredException(7));

        var expired = await Assert.ThrowsAsync<RaftKvSessionExpiredException>(() => Write(service));

        Assert.False(expired.InDoubt);
        Assert.Equal(2, service.Attempts);
    }

    [Fact]
    public async Task A_session_expiry_on_the_first_attempt_is_a_refusal()
    {
        var service = new ScriptedService(new RaftKvSessionExpiredException(7));

        var expired = await Assert.ThrowsAsync<RaftKvSessionExpiredException>(() => Write(service));

        Assert.False(expired.InDoubt);
        Assert.Equal(1, service.Attempts);
    }

    [Fact]
    public async Task A_write_that_succeeds_after_retries_returns_its_result()
    {
        var service = new ScriptedService(new TimeoutException(), new RaftKvUnavailableException("no leader; retry"));

        KvWriteResult result = await Write(service);

        Assert.Equal(ScriptedService.Success, result);
        Assert.Equal(3, service.Attempts);
    }

    [Fact]
    public async Task Giving_up_names_the_last_leader_it_was_told_of()
    {
        // Always refused, naming the local node as the leader (a stale hint): the router gives up after its budget
        // and says whom it was sent to last, so a gateway can put it in its leader trailers.
        var service = new ScriptedService(Enumerable.Repeat<Exception>(new RaftKvNotLeaderException(2, LocalNodeId), 10_000).ToArray());

        var unavailable = await Assert.ThrowsAsync<RaftKvUnavailableException>(() => Write(service, leaderRetryTimeoutMs: 50));

        Assert.Equal(LocalNodeId, unavailable.LeaderNodeId);
        Assert.True(service.Attempts > 1);
    }

    private static Task<KvWriteResult> Write(ScriptedService service, int leaderRetryTimeoutMs = 10_000)
    {
        var localSilo = new LocalSilo();
        var services = new Services(service);
        var node = new LeaderNode();
        var directory = new RaftNodeDirectory(new OneSilo(localSilo.SiloAddress), localSilo, node, services, NullLogger<RaftNodeDirectory>.Instance);
        var options = Options.Create(new RaftKvGrainOptions { LeaderRetryTimeoutMs = leaderRetryTimeoutMs, RetryBackoffMs = 1, MaxRetryBackoffMs = 2 });
        var router = new RaftLeaderRouter(services, directory, node, options, TimeProvider.System, NullLogger<RaftLeaderRouter>.Instance);
        return router.OnLeaderAsync(target => target.ProposeAsync(7, 3, KvWrite.Put("k"u8.ToArray(), "v"u8.ToArray())));
    }

    /// <summary>Fails the first attempts with the given errors, then succeeds.</summary>
    private sealed class ScriptedService(params Exception[] failures) : IRaftNodeService
    {
        public static readonly KvWriteResult Success = new() { Status = KvWriteStatus.Ok, CreateRevision = 5, ModRevision = 5 };

        public int Attempts { get; private set; }

        public Task<KvWriteResult> ProposeAsync(ulong sessionId, ulong sequence, KvWrite write)
        {
            int attempt = Attempts++;
            return attempt < failures.Length ? Task.FromException<KvWriteResult>(failures[attempt]) : Task.FromResult(Success);
        }

        public Task<ulong> RegisterSessionAsync() => throw new NotSupportedException();
        public Task KeepAliveAsync(ulong sessionId) => throw new NotSupportedException();
        public Task<KvItem?> ReadAsync(byte[] key, ReadConsistency consistency) => throw new NotSupportedException();
        public Task<IReadOnlyList<KvItem>> ScanAsync(byte[] prefix, int limit, ReadConsistency consistency) => throw new NotSupportedException();
        public Task<RaftNodeStatus> GetStatusAsync() => throw new NotSupportedException();
        public Task<RaftMembership> ListMembersAsync() => throw new NotSupportedException();
        public Task<RaftMembership> AddLearnerAsync(ulong nodeId, string peerAddress, string clientAddress) => throw new NotSupportedException();
        public Task<RaftMembership> PromoteLearnerAsync(ulong nodeId) => throw new NotSupportedException();
        public Task<RaftMembership> RemoveMemberAsync(ulong nodeId) => throw new NotSupportedException();
        public Task<RaftMembership> TransferLeadershipAsync(ulong targetNodeId) => throw new NotSupportedException();
    }

    private sealed class Services(IRaftNodeService service) : IRaftNodeServiceClient
    {
        public IRaftNodeService On(SiloAddress silo) => service;
    }

    private sealed class LocalSilo : ILocalSiloDetails
    {
        public string Name => "silo";
        public string ClusterId => "test";
        public string DnsHostName => "localhost";
        public SiloAddress SiloAddress { get; } = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111), 1);
        public SiloAddress GatewayAddress => SiloAddress;
    }

    /// <summary>One active silo, this one (the router asks the active silos when it knows no leader).</summary>
    private sealed class OneSilo(SiloAddress silo) : IClusterMembershipService
    {
        public ClusterMembershipSnapshot CurrentSnapshot { get; } = new(
            ImmutableDictionary<SiloAddress, ClusterMember>.Empty.Add(silo, new ClusterMember(silo, SiloStatus.Active, "silo")), new MembershipVersion(1));
        public IAsyncEnumerable<ClusterMembershipSnapshot> MembershipUpdates => throw new NotSupportedException();
        public ValueTask Refresh(MembershipVersion minimumVersion = default, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<bool> TryKill(SiloAddress siloAddress) => throw new NotSupportedException();
    }

    private sealed class LeaderNode : IRaftKvNode
    {
        public ulong NodeId => LocalNodeId;
        public RaftStatus Status => new(LocalNodeId, RaftRole.Leader, 2, LocalNodeId, LocalNodeId, 0, 0, 0, 0, new ClusterConfiguration([LocalNodeId]));
        public IKvStateMachine StateMachine => throw new NotSupportedException();
        public Task<ReadOnlyMemory<byte>> ProposeAsync(ReadOnlyMemory<byte> command, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task ReadIndexAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
        public string? ClientAddressOf(ulong nodeId) => null;
        public ClusterMembership Membership => throw new NotSupportedException();
        public Task<ClusterMembership> AddLearnerAsync(NodeMember member, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ClusterMembership> PromoteLearnerAsync(ulong nodeId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ClusterMembership> RemoveMemberAsync(ulong nodeId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ClusterMembership> TransferLeadershipAsync(ulong target, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
