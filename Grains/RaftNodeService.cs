using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using RaftKv.Node;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Grains;

/// <summary>
/// The RaftNode grain service: one per silo, pinned to it, a thin door from grains to the silo's own
/// <see cref="IRaftKvNode"/> (the node runtime, which the host starts before Orleans and stops after it). It
/// validates, turns contract types into the replicated <see cref="KvCommand"/> and back, and translates the node's
/// errors into serializable <see cref="RaftKvException"/>s. It never blocks: every wait is an awaited task that the
/// node's driver loop completes, so the silo's scheduler is never held.
/// </summary>
/// <remarks>
/// Orleans runs a grain service's <c>Start</c> only after the silo joined the cluster and never runs <c>Stop</c> when
/// a silo dies, so the node's life does not depend on this class: it holds no state of its own.
/// Command timestamps come from this silo's <see cref="TimeProvider"/> at proposal time. Only the leader proposes, so
/// they are the leader's clock; the state machine's log clock never goes backwards even when a new leader's clock is
/// behind, and no replica's own clock reaches Apply.
/// </remarks>
public sealed partial class RaftNodeService : GrainService, IRaftNodeService
{
    private readonly IRaftKvNode _node;
    private readonly TimeProvider _timeProvider;
    private readonly RaftKvGrainOptions _options;
    private readonly ILogger _logger;

    public RaftNodeService(GrainId id, Silo silo, ILoggerFactory loggerFactory, IRaftKvNode node, TimeProvider timeProvider, IOptions<RaftKvGrainOptions> options)
        : base(id, silo, loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        ArgumentNullException.ThrowIfNull(options);
        _node = node ?? throw new ArgumentNullException(nameof(node));
        _timeProvider = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));
        _options = options.Value;
        _logger = loggerFactory.CreateLogger<RaftNodeService>();
    }

    public async Task<KvWriteResult> ProposeAsync(ulong sessionId, ulong sequence, KvWrite write)
    {
        ArgumentNullException.ThrowIfNull(write);
        KvCommand command = KvCommands.ToCommand(sessionId, sequence, NowMs(), write);
        KvValidation validation = command.Validate(Limits());
        if (!validation.IsValid) throw new RaftKvInvalidArgumentException(validation.Reason);
        KvReply reply = await ProposeCommandAsync(command).ConfigureAwait(true);
        return KvCommands.ToResult(reply, sessionId, sequence);
    }

    public async Task<ulong> RegisterSessionAsync()
    {
        KvReply reply = await ProposeCommandAsync(KvCommand.RegisterSession(NowMs())).ConfigureAwait(true);
        KvCommands.ThrowIfError(reply, 0, 0);
        return reply.SessionId;
    }

    public async Task KeepAliveAsync(ulong sessionId)
    {
        if (sessionId == 0) throw new RaftKvInvalidArgumentException("KeepAlive needs a session id");
        KvReply reply = await ProposeCommandAsync(KvCommand.KeepAlive(sessionId, NowMs())).ConfigureAwait(true);
        KvCommands.ThrowIfError(reply, sessionId, 0);
    }

    public async Task<KvItem?> ReadAsync(byte[] key, ReadConsistency consistency)
    {
        ArgumentNullException.ThrowIfNull(key);
        StateMachineOptions limits = Limits();
        if (key.Length == 0) throw new RaftKvInvalidArgumentException("the key is empty");
        if (key.Length > limits.MaxKeyBytes) throw new RaftKvInvalidArgumentException($"the key is {key.Length} bytes; the limit is {limits.MaxKeyBytes}");
        await MaybeReadIndexAsync(consistency).ConfigureAwait(true);
        KvEntry? entry = Translate(() => _node.StateMachine.Get(key));
        return entry is null ? null : KvCommands.ToItem(entry);
    }

    public async Task<IReadOnlyList<KvItem>> ScanAsync(byte[] prefix, int limit, ReadConsistency consistency)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        StateMachineOptions limits = Limits();
        if (prefix.Length > limits.MaxKeyBytes) throw new RaftKvInvalidArgumentException($"the prefix is {prefix.Length} bytes; the limit is {limits.MaxKeyBytes}");
        if (limit < 1 || limit > _options.MaxScanLimit) throw new RaftKvInvalidArgumentException($"the scan limit must be between 1 and {_options.MaxScanLimit}");
        await MaybeReadIndexAsync(consistency).ConfigureAwait(true);
        return Translate(() => _node.StateMachine.Scan(prefix, limit)).Select(KvCommands.ToItem).ToArray();
    }

    public Task<RaftNodeStatus> GetStatusAsync()
    {
        RaftStatus status = Translate(() => _node.Status);
        return Task.FromResult(new RaftNodeStatus
        {
            NodeId = status.NodeId,
            Role = (RaftNodeRole)(int)status.Role,
            Term = status.Term,
            LeaderId = status.Leader,
            LeaderClientAddress = status.Leader == 0 ? "" : _node.ClientAddressOf(status.Leader) ?? "",
            CommitIndex = status.CommitIndex,
            AppliedIndex = status.AppliedIndex,
            Members = status.Configuration.AllMembers
                .Select(id => new RaftMemberStatus { NodeId = id, ClientAddress = _node.ClientAddressOf(id) ?? "", Voter = status.Configuration.IsVoter(id) })
                .ToArray(),
            ConfigurationPending = status.ConfigurationPending,
            LeadershipTransferTarget = status.LeadershipTransferTarget,
        });
    }

    public async Task<RaftMembership> ListMembersAsync()
    {
        await MaybeReadIndexAsync(ReadConsistency.Linearizable).ConfigureAwait(true);
        return ToContract(Translate(() => _node.Membership));
    }

    public Task<RaftMembership> AddLearnerAsync(ulong nodeId, string peerAddress, string clientAddress)
    {
        var member = new NodeMember { Id = nodeId, PeerAddress = peerAddress ?? "", ClientAddress = clientAddress ?? "" };
        if (MemberAddressBook.Validate(member) is { } invalid) throw new RaftKvInvalidArgumentException(invalid);
        return AdminAsync(token => _node.AddLearnerAsync(member, token));
    }

    public Task<RaftMembership> PromoteLearnerAsync(ulong nodeId) => AdminAsync(token => _node.PromoteLearnerAsync(RequireId(nodeId), token));

    public Task<RaftMembership> RemoveMemberAsync(ulong nodeId) => AdminAsync(token => _node.RemoveMemberAsync(RequireId(nodeId), token));

    public Task<RaftMembership> TransferLeadershipAsync(ulong targetNodeId) => AdminAsync(token => _node.TransferLeadershipAsync(RequireId(targetNodeId), token));

    private static ulong RequireId(ulong id) => id != 0 ? id : throw new RaftKvInvalidArgumentException("a node id is required (0 means nobody)");

    private async Task<RaftMembership> AdminAsync(Func<CancellationToken, Task<ClusterMembership>> change)
    {
        using var timeout = new CancellationTokenSource(_options.AdminCallTimeoutMs);
        try
        {
            return ToContract(await change(timeout.Token).ConfigureAwait(true));
        }
        catch (MembershipChangeRefusedException refused)
        {
            throw new RaftKvMembershipChangeRefusedException($"node {_node.NodeId}: {refused.Message}");
        }
        catch (ArgumentException invalid)
        {
            throw new RaftKvInvalidArgumentException(invalid.Message);
        }
        catch (OperationCanceledException)
        {
            throw new RaftKvUnavailableException(
                $"node {_node.NodeId}: the change did not complete within {_options.AdminCallTimeoutMs} ms (it may still commit: list the members)");
        }
        catch (Exception e) when (Map(e) is { } mapped)
        {
            throw mapped;
        }
    }

    private static RaftMembership ToContract(ClusterMembership membership) => new()
    {
        NodeId = membership.NodeId,
        LeaderId = membership.LeaderId,
        Term = membership.Term,
        ConfigurationPending = membership.Pending,
        Members = [.. membership.Members.Select(m => new RaftMemberStatus { NodeId = m.Id, Voter = m.IsVoter, ClientAddress = m.ClientAddress, PeerAddress = m.PeerAddress })],
    };

    private async Task MaybeReadIndexAsync(ReadConsistency consistency)
    {
        switch (consistency)
        {
            case ReadConsistency.Linearizable:
                using (var timeout = new CancellationTokenSource(_options.NodeCallTimeoutMs))
                {
                    try
                    {
                        await _node.ReadIndexAsync(timeout.Token).ConfigureAwait(true);
                    }
                    catch (Exception e) when (Map(e) is { } mapped)
                    {
                        throw mapped;
                    }
                }
                break;
            case ReadConsistency.Stale:
                break;
            default:
                throw new RaftKvInvalidArgumentException($"unknown read consistency {(int)consistency}");
        }
    }

    private async Task<KvReply> ProposeCommandAsync(KvCommand command)
    {
        ReadOnlyMemory<byte> bytes;
        using (var timeout = new CancellationTokenSource(_options.NodeCallTimeoutMs))
        {
            try
            {
                bytes = await _node.ProposeAsync(command.Encode(), timeout.Token).ConfigureAwait(true);
            }
            catch (Exception e) when (Map(e) is { } mapped)
            {
                throw mapped;
            }
        }
        if (KvReply.TryDecode(bytes, out KvReply? reply)) return reply;
        LogUndecodableReply(_logger, command.Type);
        throw new RaftKvUnavailableException("the state machine returned an undecodable reply");
    }

    /// <summary>The node's errors as the serializable errors grain callers see; null for anything unexpected.</summary>
    private RaftKvException? Map(Exception error) => error switch
    {
        NotLeaderException notLeader => new RaftKvNotLeaderException(_node.NodeId, notLeader.LeaderHint),
        // Nothing was proposed and a node to go to is named (a leadership transfer under way): as good as "not leader".
        UnavailableException { MayHaveBeenApplied: false, LeaderHint: not 0 } moving => new RaftKvNotLeaderException(_node.NodeId, moving.LeaderHint),
        UnavailableException unavailable => new RaftKvUnavailableException($"node {_node.NodeId}: {unavailable.Message}; retry", unavailable.LeaderHint),
        OperationCanceledException => new RaftKvUnavailableException(
            $"node {_node.NodeId} did not finish within {_options.NodeCallTimeoutMs} ms (a write may still be applied); retry with the same sequence number"),
        _ => null,
    };

    private T Translate<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (Map(e) is { } mapped)
        {
            throw mapped;
        }
    }

    private StateMachineOptions Limits() => Translate(() => _node.StateMachine.Options);

    private long NowMs() => _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    [LoggerMessage(EventId = 3201, Level = LogLevel.Error, Message = "The state machine returned an undecodable reply to {CommandType}")]
    private static partial void LogUndecodableReply(ILogger logger, KvCommandType commandType);
}
