using RaftKv.Node;
using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.ClientGateway;

/// <summary>
/// The client gRPC service <c>raftkv.v1.KV</c> over the local <see cref="IRaftKvNode"/>, on the generated
/// <see cref="KV.KVBase"/> (Grpc.AspNetCore; one instance per process, registered by <c>AddRaftKvGateway</c>). Every
/// request is validated before anything is proposed; writes are proposed through Raft, serialized per client
/// session; linearizable reads go through ReadIndex; a request that reaches a follower is forwarded to the leader's
/// gateway unless the client asked for a leader hint instead. Failures carry structured trailers (leader hint,
/// session expiry, whether the command may have been applied; see <see cref="KvMetadata"/> and docs/api.md).
/// </summary>
/// <remarks>
/// Command timestamps come from <see cref="TimeProvider"/> here, at proposal time: they are the only clock the state
/// machine reads (for deterministic session expiry), so no replica's own clock ever reaches Apply.
/// </remarks>
public sealed partial class KvGatewayService : KV.KVBase, IDisposable
{
    private readonly IRaftKvNode _node;
    private readonly KvGatewayOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly GatewaySessions _sessions;
    private readonly ConcurrentDictionary<string, Lazy<LeaderGateway>> _leaderChannels = new(StringComparer.Ordinal);
    private readonly KvGatewayMetrics _metrics = new();

    /// <summary>This gateway's meters: requests by method and status, and their latency.</summary>
    public KvGatewayMetrics Metrics => _metrics;

    public KvGatewayService(IRaftKvNode node, KvGatewayOptions options, TimeProvider timeProvider, ILogger<KvGatewayService> logger)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid gateway options: " + string.Join(" ", errors), nameof(options));
        _node = node;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
        _sessions = new GatewaySessions(timeProvider, options.SessionIdleEvictionMs);
    }

    /// <summary>Number of gateway sessions currently tracked (for tests and metrics).</summary>
    public int GatewaySessionCount => _sessions.Count;

    public void Dispose()
    {
        foreach (var channel in _leaderChannels.Values)
        {
            if (channel.IsValueCreated) channel.Value.Channel.Dispose();
        }
        _leaderChannels.Clear();
        _metrics.Dispose();
    }

    private StateMachineOptions Limits => _node.StateMachine.Options;

    private long NowMs() => _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    // ---- writes ----

    public override Task<RegisterSessionResponse> RegisterSession(RegisterSessionRequest request, ServerCallContext context) =>
        RunAsync(nameof(RegisterSession), isWrite: true, request, context, static (kv, r, o) => kv.RegisterSessionAsync(r, o), async cancellationToken =>
        {
            var bytes = await _node.ProposeAsync(KvCommand.RegisterSession(NowMs()).Encode(), cancellationToken).ConfigureAwait(false);
            var reply = MapErrors(nameof(RegisterSession), Decode(nameof(RegisterSession), bytes), 0);
            return new RegisterSessionResponse { SessionId = reply.SessionId };
        });

    public override Task<KeepAliveResponse> KeepAlive(KeepAliveRequest request, ServerCallContext context) =>
        RunAsync(nameof(KeepAlive), isWrite: true, request, context, static (kv, r, o) => kv.KeepAliveAsync(r, o), async cancellationToken =>
        {
            if (request.SessionId == 0) throw Invalid(nameof(KeepAlive), "KeepAlive needs a session id");
            await ProposeInSessionAsync(nameof(KeepAlive), request.SessionId, now => KvCommand.KeepAlive(request.SessionId, now), cancellationToken)
                .ConfigureAwait(false);
            return new KeepAliveResponse();
        });

    public override Task<PutResponse> Put(PutRequest request, ServerCallContext context) =>
        RunAsync(nameof(Put), isWrite: true, request, context, static (kv, r, o) => kv.PutAsync(r, o), cancellationToken => PutLocalAsync(request, cancellationToken));

    public override Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context) =>
        RunAsync(nameof(Delete), isWrite: true, request, context, static (kv, r, o) => kv.DeleteAsync(r, o), cancellationToken => DeleteLocalAsync(request, cancellationToken));

    public override Task<CompareAndSwapResponse> CompareAndSwap(CompareAndSwapRequest request, ServerCallContext context) =>
        RunAsync(nameof(CompareAndSwap), isWrite: true, request, context, static (kv, r, o) => kv.CompareAndSwapAsync(r, o),
            cancellationToken => CompareAndSwapLocalAsync(request, cancellationToken));

    private async Task<PutResponse> PutLocalAsync(PutRequest request, CancellationToken cancellationToken)
    {
        var reply = await ProposeInSessionAsync(nameof(Put), request.SessionId,
            now => KvCommand.Put(request.SessionId, request.Sequence, now, request.Key.Memory, request.Value.Memory), cancellationToken).ConfigureAwait(false);
        return new PutResponse { CreateRevision = reply.Version.CreateIndex, ModRevision = reply.Version.ModIndex };
    }

    private async Task<DeleteResponse> DeleteLocalAsync(DeleteRequest request, CancellationToken cancellationToken)
    {
        var reply = await ProposeInSessionAsync(nameof(Delete), request.SessionId,
            now => KvCommand.Delete(request.SessionId, request.Sequence, now, request.Key.Memory), cancellationToken).ConfigureAwait(false);
        return new DeleteResponse
        {
            Deleted = reply.Status == KvStatus.Ok,
            CreateRevision = reply.Version.CreateIndex,
            ModRevision = reply.Version.ModIndex,
        };
    }

    private async Task<CompareAndSwapResponse> CompareAndSwapLocalAsync(CompareAndSwapRequest request, CancellationToken cancellationToken)
    {
        string method = nameof(CompareAndSwap);
        // One definition of which command a request means, shared with the fuzzed validation (KvRequestValidation).
        KvValidation shape = KvRequestValidation.TryBuild(request, 0, out _);
        if (!shape.IsValid) throw Invalid(method, shape.Reason);
        KvCommand build(long now)
        {
            KvRequestValidation.TryBuild(request, now, out KvCommand? command);
            return command!;
        }
        var reply = await ProposeInSessionAsync(method, request.SessionId, build, cancellationToken).ConfigureAwait(false);
        var response = new CompareAndSwapResponse
        {
            Succeeded = reply.Status == KvStatus.Ok,
            CreateRevision = reply.Version.CreateIndex,
            ModRevision = reply.Version.ModIndex,
        };
        if (reply.Status == KvStatus.CasFailed && reply.Value is { } current)
        {
            response.CurrentExists = true;
            response.CurrentValue = ByteString.CopyFrom(current.Span);
        }
        return response;
    }

    /// <summary>
    /// Several sessions' writes in one call (see raftkv.proto): each runs exactly as its own call would, concurrently
    /// (one session's gate each), and is counted under its own method; its failure becomes its result. The batch is
    /// forwarded, or refused with the leader hint, as a whole when this node is not the leader.
    /// </summary>
    public override Task<WriteBatchResponse> WriteBatch(WriteBatchRequest request, ServerCallContext context) =>
        RunAsync(nameof(WriteBatch), isWrite: true, request, context, static (kv, r, o) => kv.WriteBatchAsync(r, o), async cancellationToken =>
        {
            string? invalid = WriteBatchShapeError(request);
            if (invalid is not null) throw Invalid(nameof(WriteBatch), invalid);
            RaftStatus status = _node.Status;
            if (status.Role != RaftRole.Leader) throw new NotLeaderException(status.Leader);
            var results = new Task<WriteResult>[request.Ops.Count];
            for (int i = 0; i < results.Length; i++) results[i] = RunBatchedAsync(request.Ops[i], cancellationToken);
            var response = new WriteBatchResponse();
            response.Results.AddRange(await Task.WhenAll(results).ConfigureAwait(false));
            return response;
        });

    /// <summary>Most writes one WriteBatch may carry.</summary>
    public const int MaxWriteBatchOps = 1024;

    /// <summary>Why a batch is refused as a whole (empty, too large, an op without a write, one session twice), or null.</summary>
    private static string? WriteBatchShapeError(WriteBatchRequest request)
    {
        if (request.Ops.Count == 0) return "WriteBatch needs at least one op";
        if (request.Ops.Count > MaxWriteBatchOps) return $"WriteBatch carries at most {MaxWriteBatchOps} ops, got {request.Ops.Count}";
        var sessions = new HashSet<ulong>();
        for (int i = 0; i < request.Ops.Count; i++)
        {
            WriteOp op = request.Ops[i];
            if (op.OpCase == WriteOp.OpOneofCase.None) return $"WriteBatch op {i} carries no write (put, delete or compare_and_swap)";
            ulong session = op.SessionId;
            // A session's writes are one at a time: two in one batch could reach the log in either order.
            if (session != 0 && !sessions.Add(session)) return $"WriteBatch carries two writes of session {session}; send one write per session at a time";
        }
        return null;
    }

    /// <summary>One op of a WriteBatch, answered as its own call would be: its response, or its error with that call's trailers.</summary>
    private async Task<WriteResult> RunBatchedAsync(WriteOp op, CancellationToken cancellationToken)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        string method = op.OpCase switch
        {
            WriteOp.OpOneofCase.Put => nameof(Put),
            WriteOp.OpOneofCase.Delete => nameof(Delete),
            _ => nameof(CompareAndSwap),
        };
        try
        {
            WriteResult result = op.OpCase switch
            {
                WriteOp.OpOneofCase.Put => new WriteResult { Put = await PutLocalAsync(op.Put, cancellationToken).ConfigureAwait(false) },
                WriteOp.OpOneofCase.Delete => new WriteResult { Delete = await DeleteLocalAsync(op.Delete, cancellationToken).ConfigureAwait(false) },
                _ => new WriteResult { CompareAndSwap = await CompareAndSwapLocalAsync(op.CompareAndSwap, cancellationToken).ConfigureAwait(false) },
            };
            _metrics.Finished(method, StatusCode.OK, start);
            return result;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // A write's failure stays its own: the others of the batch keep their outcomes.
            RpcException failure = e switch
            {
                RpcException rpc => rpc,
                // Nothing was proposed; the client retries at the leader (a batch is forwarded only as a whole).
                NotLeaderException notLeader => NotLeaderRefusal(notLeader.LeaderHint),
                UnavailableException unavailable => KvGatewayErrors.Unavailable(unavailable, LeaderAddress(unavailable.LeaderHint), unavailable.MayHaveBeenApplied),
                // What gRPC answers a single call whose handler threw: UNKNOWN, with no may-have-applied trailer (unknown).
                _ => new RpcException(new Status(StatusCode.Unknown, "Exception was thrown by handler.")),
            };
            _metrics.Finished(method, failure.StatusCode, start);
            return new WriteResult { Error = KvMetadata.ToWriteError(failure) };
        }
    }

    /// <summary>
    /// Validates, then proposes one session command while holding that session's gate. Returns Ok, NotFound or
    /// CasFailed replies; every other outcome becomes an <see cref="RpcException"/> with trailers.
    /// </summary>
    private async Task<KvReply> ProposeInSessionAsync(string method, ulong sessionId, Func<long, KvCommand> build, CancellationToken cancellationToken)
    {
        KvCommand shape = build(0);
        var validation = shape.Validate(Limits);
        if (!validation.IsValid) throw Invalid(method, validation.Reason);
        if (MemberAddressBook.IsReserved(shape.Key.Span)) throw Invalid(method, MemberAddressBook.ReservedRefusal);
        using var lease = await _sessions.EnterAsync(sessionId, cancellationToken).ConfigureAwait(false);
        // The timestamp is taken inside the gate so one session's commands carry non-decreasing timestamps.
        var bytes = await _node.ProposeAsync(build(NowMs()).Encode(), cancellationToken).ConfigureAwait(false);
        return MapErrors(method, Decode(method, bytes), sessionId);
    }

    private KvReply Decode(string method, ReadOnlyMemory<byte> bytes)
    {
        if (KvReply.TryDecode(bytes, out var reply)) return reply;
        KvGatewayLog.UndecodableReply(_logger, method);
        // The command was committed and applied; only its reply is unreadable.
        throw KvGatewayErrors.Failure(StatusCode.Internal, "the state machine returned an undecodable reply", mayHaveApplied: true);
    }

    /// <summary>
    /// The state machine's refusals. Each leaves the store unchanged: the command reached the log, and Apply
    /// answered it without changing anything, so none of them may have been applied.
    /// </summary>
    private static KvReply MapErrors(string method, KvReply reply, ulong sessionId) => reply.Status switch
    {
        KvStatus.Ok or KvStatus.NotFound or KvStatus.CasFailed => reply,
        KvStatus.SessionExpired => throw KvGatewayErrors.SessionExpired(sessionId),
        KvStatus.UnknownSession => throw KvGatewayErrors.InvalidArgument($"unknown session {sessionId}; register a session first"),
        KvStatus.StaleSequence => throw KvGatewayErrors.Failure(StatusCode.FailedPrecondition,
            "stale sequence: the sequence number is below the session's last applied one; its reply is gone", mayHaveApplied: false),
        KvStatus.InvalidArgument => throw KvGatewayErrors.InvalidArgument($"{method}: the state machine rejected the command as invalid"),
        KvStatus.TooManySessions => throw KvGatewayErrors.Failure(StatusCode.ResourceExhausted, "too many sessions; retry later", mayHaveApplied: false),
        _ => throw KvGatewayErrors.Failure(StatusCode.Internal, $"{method}: the state machine could not apply the command ({reply.Status})", mayHaveApplied: true),
    };

    // ---- reads ----

    public override Task<GetResponse> Get(GetRequest request, ServerCallContext context) =>
        RunAsync(nameof(Get), isWrite: false, request, context, static (kv, r, o) => kv.GetAsync(r, o), async cancellationToken =>
        {
            KvValidation validation = KvRequestValidation.Validate(request, Limits);
            if (!validation.IsValid) throw Invalid(nameof(Get), validation.Reason);
            await MaybeReadIndexAsync(request.Consistency, cancellationToken).ConfigureAwait(false);
            var entry = _node.StateMachine.Get(request.Key.Memory);
            return entry is null ? new GetResponse { Found = false } : new GetResponse { Found = true, Kv = ToKeyValue(entry) };
        });

    public override Task<ScanResponse> Scan(ScanRequest request, ServerCallContext context) =>
        RunAsync(nameof(Scan), isWrite: false, request, context, static (kv, r, o) => kv.ScanAsync(r, o), async cancellationToken =>
        {
            KvValidation validation = KvRequestValidation.Validate(request, Limits);
            if (!validation.IsValid) throw Invalid(nameof(Scan), validation.Reason);
            int limit = request.Limit == 0 ? _options.DefaultScanLimit : (int)Math.Min(request.Limit, (uint)_options.MaxScanLimit);
            await MaybeReadIndexAsync(request.Consistency, cancellationToken).ConfigureAwait(false);
            var response = new ScanResponse();
            foreach (var entry in _node.StateMachine.Scan(request.Prefix.Memory, limit)) response.Kvs.Add(ToKeyValue(entry));
            return response;
        });

    private Task MaybeReadIndexAsync(Consistency consistency, CancellationToken cancellationToken) => consistency switch
    {
        Consistency.Linearizable => _node.ReadIndexAsync(cancellationToken),
        Consistency.Stale => Task.CompletedTask,
        _ => throw KvGatewayErrors.InvalidArgument($"unknown consistency {(int)consistency}"),
    };

    private static KeyValue ToKeyValue(KvEntry entry) => new()
    {
        Key = ByteString.CopyFrom(entry.Key.Span),
        Value = ByteString.CopyFrom(entry.Value.Span),
        CreateRevision = entry.Version.CreateIndex,
        ModRevision = entry.Version.ModIndex,
    };

    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        StatusResponse response;
        try
        {
            response = BuildStatus();
        }
        catch (Exception e)
        {
            _metrics.Finished(nameof(Status), e is RpcException rpc ? rpc.StatusCode : StatusCode.Unknown, start);
            throw;
        }
        _metrics.Finished(nameof(Status), StatusCode.OK, start);
        return Task.FromResult(response);
    }

    private StatusResponse BuildStatus()
    {
        var status = _node.Status;
        var response = new StatusResponse
        {
            NodeId = status.NodeId,
            Role = (Role)(int)status.Role,
            Term = status.Term,
            LeaderId = status.Leader,
            LeaderAddress = status.Leader == 0 ? "" : _node.ClientAddressOf(status.Leader) ?? "",
            CommitIndex = status.CommitIndex,
            AppliedIndex = status.AppliedIndex,
        };
        response.ConfigurationPending = status.ConfigurationPending;
        response.LeaderTransferTarget = status.LeadershipTransferTarget;
        ClusterMembership membership = _node.Membership;
        foreach (ulong id in status.Configuration.AllMembers)
        {
            RaftMember? known = membership.Members.FirstOrDefault(m => m.Id == id);
            response.Members.Add(new Member
            {
                Id = id,
                Address = _node.ClientAddressOf(id) ?? "",
                Voter = status.Configuration.IsVoter(id),
                PeerAddress = known?.PeerAddress ?? "",
            });
        }
        return response;
    }

    // ---- routing ----

    /// <summary>
    /// Runs a request locally; when this node is not the leader, forwards it or answers with a leader hint. Counts
    /// it by method and status. A call the client cancelled ends as CANCELLED, not as a server error: nothing went
    /// wrong here, so nothing is logged above Debug.
    /// </summary>
    private async Task<TResponse> RunAsync<TRequest, TResponse>(
        string method,
        bool isWrite,
        TRequest request,
        ServerCallContext context,
        Func<KV.KVClient, TRequest, CallOptions, AsyncUnaryCall<TResponse>> forward,
        Func<CancellationToken, Task<TResponse>> local)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            TResponse response;
            try
            {
                response = await local(context.CancellationToken).ConfigureAwait(false);
            }
            catch (NotLeaderException notLeader)
            {
                // Nothing was proposed, so sending the request elsewhere cannot apply it twice.
                response = await ForwardOrRefuseAsync(method, request, context, forward, notLeader.LeaderHint).ConfigureAwait(false);
            }
            catch (UnavailableException unavailable)
            {
                KvGatewayLog.Unavailable(_logger, method, unavailable.Message);
                // A read never applies anything; a write lost to a leader change may still be committed by the next leader.
                throw KvGatewayErrors.Unavailable(unavailable, LeaderAddress(unavailable.LeaderHint), mayHaveApplied: isWrite && unavailable.MayHaveBeenApplied);
            }
            _metrics.Finished(method, StatusCode.OK, start);
            return response;
        }
        catch (Exception e) when (context.CancellationToken.IsCancellationRequested && e is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled })
        {
            // The client gave up (or its deadline passed): an outcome of the call, not a failure of this server.
            KvGatewayLog.Cancelled(_logger, method);
            _metrics.Finished(method, StatusCode.Cancelled, start);
            throw new RpcException(new Status(StatusCode.Cancelled, "the client cancelled the call"));
        }
        catch (RpcException failure)
        {
            _metrics.Finished(method, failure.StatusCode, start);
            throw;
        }
        catch (Exception)
        {
            _metrics.Finished(method, StatusCode.Unknown, start);
            throw;
        }
    }

    private async Task<TResponse> ForwardOrRefuseAsync<TRequest, TResponse>(
        string method, TRequest request, ServerCallContext context, Func<KV.KVClient, TRequest, CallOptions, AsyncUnaryCall<TResponse>> forward, ulong leaderHint)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        if (leaderHint == 0 || leaderHint == _node.NodeId)
        {
            KvGatewayLog.Unavailable(_logger, method, "no leader");
            throw KvGatewayErrors.NoLeader();
        }
        string? address = _node.ClientAddressOf(leaderHint);
        bool clientRefusesForwarding = context.RequestHeaders.GetValue(KvMetadata.NoForwardHeader) == "1";
        if (address is null || clientRefusesForwarding || !_options.ForwardToLeader)
        {
            throw KvGatewayErrors.NotLeader(leaderHint, address);
        }
        KvGatewayLog.Forwarding(_logger, method, leaderHint, address);
        LeaderGateway leader = _leaderChannels.GetOrAdd(address, static (a, factory) => new Lazy<LeaderGateway>(() => new LeaderGateway(a, factory)), _options.ForwardingHttpHandlerFactory).Value;
        // One hop only: the leader's gateway answers with a hint rather than forwarding again, so stale leader
        // views can never make a request loop between gateways.
        var options = new CallOptions(
            headers: new Metadata { { KvMetadata.NoForwardHeader, "1" } },
            deadline: context.Deadline == DateTime.MaxValue ? null : context.Deadline,
            cancellationToken: context.CancellationToken);
        TResponse response;
        try
        {
            response = await forward(leader.Client, request, options).ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException failure)
        {
            throw KvGatewayErrors.Forwarded(failure);
        }
        // Answered, but through an extra hop: tell the client where the leader is, so its next requests go there.
        context.ResponseTrailers.Add(KvMetadata.LeaderEndpointTrailer, address);
        return response;
    }

    /// <summary>The gateway address of the node a hint names; null for no hint or an unknown address.</summary>
    private string? LeaderAddress(ulong leaderHint) => leaderHint == 0 ? null : _node.ClientAddressOf(leaderHint);

    /// <summary>
    /// This node does not lead and does not forward this request: nothing was proposed. "No leader" when no other node
    /// is known to lead, otherwise the leader's trailers.
    /// </summary>
    private RpcException NotLeaderRefusal(ulong leaderHint) =>
        leaderHint == 0 || leaderHint == _node.NodeId ? KvGatewayErrors.NoLeader() : KvGatewayErrors.NotLeader(leaderHint, _node.ClientAddressOf(leaderHint));

    private RpcException Invalid(string method, string reason)
    {
        KvGatewayLog.Rejected(_logger, method, reason);
        return KvGatewayErrors.InvalidArgument(reason);
    }

    /// <summary>The channel to another node's gateway that forwarded requests take.</summary>
    private sealed class LeaderGateway
    {
        public LeaderGateway(string address, Func<HttpMessageHandler>? handlerFactory)
        {
            HttpMessageHandler handler = handlerFactory?.Invoke() ?? new RaftKvClientOptions().CreateHttpHandler();
            Channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
            Client = new KV.KVClient(Channel);
        }

        public GrpcChannel Channel { get; }

        public KV.KVClient Client { get; }
    }
}
