using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using RaftKv.Client.Protos;
using RaftKv.Node;

namespace RaftKv.Silo;

/// <summary>
/// <c>RaftKv:Join</c>: a new node asks an existing member (any one; a follower forwards to the leader) to add it as a
/// learner, retrying until the cluster answers or the silo stops. The answer lists every member's addresses, which the
/// node needs before its own log holds the replicated address book: without them it could not answer the leader.
/// Afterwards the node catches up like any follower (by snapshot when the leader's log is compacted); promoting it to
/// voter is an operator's decision (<c>raftkv member promote</c>).
/// </summary>
internal static partial class ClusterJoin
{
    public static async Task RunAsync(NodeRuntime node, NodeOptions options, ILogger logger, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(options.Join);
        using GrpcChannel channel = GrpcChannel.ForAddress(options.Join);
        var cluster = new Cluster.ClusterClient(channel);
        var request = new MemberAddLearnerRequest { Id = options.NodeId, PeerAddress = options.Self.PeerAddress, ClientAddress = options.Self.ClientAddress };
        TimeSpan backoff = TimeSpan.FromMilliseconds(200);
        for (int attempt = 1; !stopping.IsCancellationRequested; attempt++)
        {
            try
            {
                MembershipResponse response = await cluster.MemberAddLearnerAsync(request, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: stopping)
                    .ResponseAsync.ConfigureAwait(false);
                node.Driver?.LearnAddresses(response.Members
                    .Where(m => m.Id != options.NodeId && m.PeerAddress.Length > 0)
                    .Select(m => new NodeMember { Id = m.Id, PeerAddress = m.PeerAddress, ClientAddress = m.Address }));
                LogJoined(logger, options.NodeId, options.Join, string.Join(',', response.Members.Select(m => $"{m.Id}{(m.Voter ? "" : "(learner)")}")));
                return;
            }
            catch (RpcException failure) when (failure.StatusCode is StatusCode.InvalidArgument or StatusCode.FailedPrecondition)
            {
                // Retrying cannot help (e.g. the id belongs to another member): say so loudly and stay out of the cluster.
                LogRefused(logger, options.NodeId, options.Join, failure.Status.Detail);
                return;
            }
            catch (RpcException failure) when (!stopping.IsCancellationRequested)
            {
                LogRetrying(logger, options.NodeId, options.Join, attempt, failure.Status.Detail);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await Task.Delay(backoff, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 2_000));
        }
    }

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "node {NodeId} joined the cluster through {Join} as a learner; members {Members}")]
    private static partial void LogJoined(ILogger logger, ulong nodeId, string join, string members);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "node {NodeId} could not join through {Join} yet (attempt {Attempt}): {Reason}; retrying")]
    private static partial void LogRetrying(ILogger logger, ulong nodeId, string join, int attempt, string reason);

    [LoggerMessage(EventId = 303, Level = LogLevel.Error, Message = "node {NodeId} was refused by the cluster at {Join}: {Reason}; it stays out of the cluster")]
    private static partial void LogRefused(ILogger logger, ulong nodeId, string join, string reason);
}
