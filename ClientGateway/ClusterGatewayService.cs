using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.Node;

namespace RaftKv.ClientGateway;

/// <summary>
/// The membership API <c>raftkv.v1.Cluster</c> (etcd's Cluster service and MoveLeader) over the local
/// <see cref="IRaftKvNode"/>. Changes run on the leader: a follower forwards them one hop (or answers with the leader
/// trailers when the client sent <c>raftkv-no-forward: 1</c>). Each change completes once committed and returns the
/// membership. A call without a deadline is bounded by <see cref="KvGatewayOptions.AdminTimeoutMs"/>.
/// </summary>
public sealed class ClusterGatewayService : Cluster.ClusterBase, IDisposable
{
    private readonly IRaftKvNode _node;
    private readonly KvGatewayOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Lazy<(GrpcChannel Channel, Cluster.ClusterClient Client)>> _leaders = new(StringComparer.Ordinal);

    public ClusterGatewayService(IRaftKvNode node, KvGatewayOptions options, ILogger<ClusterGatewayService> logger)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _node = node;
        _options = options;
        _logger = logger;
    }

    public void Dispose()
    {
        foreach (var leader in _leaders.Values)
        {
            if (leader.IsValueCreated) leader.Value.Channel.Dispose();
        }
        _leaders.Clear();
    }

    public override Task<MembershipResponse> MemberList(MemberListRequest request, ServerCallContext context) =>
        RunAsync(nameof(MemberList), request, context, static (c, r, o) => c.MemberListAsync(r, o), async cancellationToken =>
        {
            await _node.ReadIndexAsync(cancellationToken).ConfigureAwait(false);
            return _node.Membership;
        }, forwardOnNotLeader: false);

    public override Task<MembershipResponse> MemberAddLearner(MemberAddLearnerRequest request, ServerCallContext context) =>
        RunAsync(nameof(MemberAddLearner), request, context, static (c, r, o) => c.MemberAddLearnerAsync(r, o), cancellationToken =>
        {
            var member = new NodeMember { Id = request.Id, PeerAddress = request.PeerAddress, ClientAddress = request.ClientAddress };
            if (MemberAddressBook.Validate(member) is { } invalid) throw KvGatewayErrors.InvalidArgument(invalid);
            return _node.AddLearnerAsync(member, cancellationToken);
        });

    public override Task<MembershipResponse> MemberPromote(MemberPromoteRequest request, ServerCallContext context) =>
        RunAsync(nameof(MemberPromote), request, context, static (c, r, o) => c.MemberPromoteAsync(r, o), cancellationToken =>
            _node.PromoteLearnerAsync(RequireId(request.Id), cancellationToken));

    public override Task<MembershipResponse> MemberRemove(MemberRemoveRequest request, ServerCallContext context) =>
        RunAsync(nameof(MemberRemove), request, context, static (c, r, o) => c.MemberRemoveAsync(r, o), cancellationToken =>
            _node.RemoveMemberAsync(RequireId(request.Id), cancellationToken));

    public override Task<MembershipResponse> LeaderTransfer(LeaderTransferRequest request, ServerCallContext context) =>
        RunAsync(nameof(LeaderTransfer), request, context, static (c, r, o) => c.LeaderTransferAsync(r, o), cancellationToken =>
            _node.TransferLeadershipAsync(RequireId(request.TargetId), cancellationToken));

    /// <summary>The membership as the protocol shows it (also used by <c>Status</c>).</summary>
    public static MembershipResponse ToResponse(ClusterMembership membership)
    {
        ArgumentNullException.ThrowIfNull(membership);
        var response = new MembershipResponse
        {
            LeaderId = membership.LeaderId,
            Term = membership.Term,
            NodeId = membership.NodeId,
            ConfigurationPending = membership.Pending,
        };
        response.Members.AddRange(membership.Members.Select(ToMember));
        return response;
    }

    public static Member ToMember(RaftMember member)
    {
        ArgumentNullException.ThrowIfNull(member);
        return new Member { Id = member.Id, Voter = member.IsVoter, Address = member.ClientAddress, PeerAddress = member.PeerAddress };
    }

    private static ulong RequireId(ulong id) => id != 0 ? id : throw KvGatewayErrors.InvalidArgument("a node id is required (0 means nobody)");

    private async Task<MembershipResponse> RunAsync<TRequest>(
        string method,
        TRequest request,
        ServerCallContext context,
        Func<Cluster.ClusterClient, TRequest, CallOptions, AsyncUnaryCall<MembershipResponse>> forward,
        Func<CancellationToken, Task<ClusterMembership>> local,
        bool forwardOnNotLeader = true)
        where TRequest : class, IMessage<TRequest>
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        if (context.Deadline == DateTime.MaxValue) timeout.CancelAfter(_options.AdminTimeoutMs);
        try
        {
            return ToResponse(await local(timeout.Token).ConfigureAwait(false));
        }
        catch (NotLeaderException notLeader) when (forwardOnNotLeader)
        {
            return await ForwardAsync(method, request, context, forward, notLeader.LeaderHint).ConfigureAwait(false);
        }
        catch (MembershipChangeRefusedException refused)
        {
            KvGatewayLog.Rejected(_logger, method, refused.Message);
            throw KvGatewayErrors.Failure(StatusCode.FailedPrecondition, refused.Message, mayHaveApplied: false);
        }
        catch (ArgumentException invalid)
        {
            throw KvGatewayErrors.InvalidArgument(invalid.Message);
        }
        catch (UnavailableException unavailable)
        {
            KvGatewayLog.Unavailable(_logger, method, unavailable.Message);
            throw KvGatewayErrors.Unavailable(unavailable, _node.ClientAddressOf(unavailable.LeaderHint), mayHaveApplied: unavailable.MayHaveBeenApplied);
        }
        catch (OperationCanceledException) when (!context.CancellationToken.IsCancellationRequested)
        {
            throw KvGatewayErrors.Failure(StatusCode.DeadlineExceeded,
                $"{method} did not complete within {_options.AdminTimeoutMs} ms; the change may still commit: list the members", mayHaveApplied: true);
        }
    }

    private async Task<MembershipResponse> ForwardAsync<TRequest>(
        string method, TRequest request, ServerCallContext context,
        Func<Cluster.ClusterClient, TRequest, CallOptions, AsyncUnaryCall<MembershipResponse>> forward, ulong leaderHint)
        where TRequest : class, IMessage<TRequest>
    {
        if (leaderHint == 0 || leaderHint == _node.NodeId)
        {
            throw KvGatewayErrors.NoLeader();
        }
        string? address = _node.ClientAddressOf(leaderHint);
        if (address is null || context.RequestHeaders.GetValue(KvMetadata.NoForwardHeader) == "1" || !_options.ForwardToLeader)
        {
            throw KvGatewayErrors.NotLeader(leaderHint, address);
        }
        KvGatewayLog.Forwarding(_logger, method, leaderHint, address);
        var leader = _leaders.GetOrAdd(address, static a => new Lazy<(GrpcChannel, Cluster.ClusterClient)>(() =>
        {
            GrpcChannel channel = GrpcChannel.ForAddress(a);
            return (channel, new Cluster.ClusterClient(channel));
        })).Value;
        var options = new CallOptions(
            headers: new Metadata { { KvMetadata.NoForwardHeader, "1" } },
            deadline: context.Deadline == DateTime.MaxValue ? DateTime.UtcNow.AddMilliseconds(_options.AdminTimeoutMs) : context.Deadline,
            cancellationToken: context.CancellationToken);
        try
        {
            return await forward(leader.Client, request, options).ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException failure)
        {
            throw KvGatewayErrors.Forwarded(failure);
        }
    }
}
