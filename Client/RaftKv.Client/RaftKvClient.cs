using System.Collections.Concurrent;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using RaftKv.Client.Protos;

namespace RaftKv.Client;

/// <summary>
/// A RaftKv client. It discovers the leader through Status, registers a session on first write, and gives every write
/// the session's next sequence number. A write that fails with UNAVAILABLE, DEADLINE_EXCEEDED or a broken connection
/// is retried with the SAME sequence number (bounded attempts, exponential backoff, rotating addresses); the
/// replicated session table then answers a retry of an applied write with its original reply, which makes writes
/// exactly-once. Leader redirects and session expiry come from the gateway's response trailers (<see cref="KvMetadata"/>).
/// A write that fails for good says "raftkv-may-have-applied: false" only if no attempt of it may have been applied.
/// </summary>
/// <remarks>
/// Writes of one client are sent one at a time (the session's sequence numbers must reach the log in order);
/// reads run concurrently. Use several clients for parallel writes. Thread-safe.
/// </remarks>
public sealed class RaftKvClient : IAsyncDisposable, IDisposable
{
    private readonly RaftKvClientOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly List<string> _endpoints;
    private readonly ConcurrentDictionary<string, Endpoint> _channels = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly Metadata? _authorization;
    private int _currentEndpoint;
    private volatile bool _leaderDiscovered;

    // Guarded by _writeGate. Invariant: _lastSequence is the highest sequence number sent in session _sessionId.
    private ulong _sessionId;
    private ulong _lastSequence;

    public RaftKvClient(RaftKvClientOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid RaftKv client options: " + string.Join(" ", errors), nameof(options));
        _options = options;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _endpoints = options.Endpoints.Select(Normalize).Distinct(StringComparer.Ordinal).ToList();
        _authorization = KvMetadata.Authorization(options.BearerToken);
    }

    /// <summary>The current session id, 0 before the first write or after the session expired.</summary>
    public ulong SessionId => Volatile.Read(ref _sessionId);

    /// <summary>The address requests go to now (the known leader, or a seed being tried).</summary>
    public string CurrentEndpoint
    {
        get { lock (_endpoints) return _endpoints[_currentEndpoint]; }
    }

    // ---- writes ----

    public Task<PutResult> PutAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
        WriteAsync(static (kv, request, options) => kv.PutAsync(request, options), (session, sequence) => new PutRequest
        {
            SessionId = session, Sequence = sequence, Key = ByteString.CopyFrom(key.Span), Value = ByteString.CopyFrom(value.Span),
        }, r => new PutResult(r.CreateRevision, r.ModRevision), cancellationToken);

    public Task<PutResult> PutAsync(string key, string value, CancellationToken cancellationToken = default) =>
        PutAsync(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value), cancellationToken);

    public Task<DeleteResult> DeleteAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
        WriteAsync(static (kv, request, options) => kv.DeleteAsync(request, options), (session, sequence) => new DeleteRequest
        {
            SessionId = session, Sequence = sequence, Key = ByteString.CopyFrom(key.Span),
        }, r => new DeleteResult(r.Deleted, r.CreateRevision, r.ModRevision), cancellationToken);

    public Task<DeleteResult> DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        DeleteAsync(Encoding.UTF8.GetBytes(key), cancellationToken);

    public Task<CasResult> CompareAndSwapAsync(ReadOnlyMemory<byte> key, CasExpectation expected, ReadOnlyMemory<byte> newValue,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(expected);
        return WriteAsync(static (kv, request, options) => kv.CompareAndSwapAsync(request, options), (session, sequence) =>
        {
            var request = new CompareAndSwapRequest
            {
                SessionId = session, Sequence = sequence, Key = ByteString.CopyFrom(key.Span), NewValue = ByteString.CopyFrom(newValue.Span),
            };
            switch (expected)
            {
                case CasExpectation.ValueEquals value: request.ExpectedValue = ByteString.CopyFrom(value.Expected); break;
                case CasExpectation.KeyAbsent: request.ExpectedAbsent = true; break;
                case CasExpectation.ModRevisionEquals revision: request.ExpectedModRevision = revision.Revision; break;
            }
            return request;
        }, r => new CasResult(r.Succeeded, r.CreateRevision, r.ModRevision, r.CurrentExists ? r.CurrentValue.ToByteArray() : null), cancellationToken);
    }

    public Task<CasResult> CompareAndSwapAsync(string key, CasExpectation expected, string newValue, CancellationToken cancellationToken = default) =>
        CompareAndSwapAsync(Encoding.UTF8.GetBytes(key), expected, Encoding.UTF8.GetBytes(newValue), cancellationToken);

    // ---- reads ----

    /// <summary>The key's value and revisions, or null if it does not exist.</summary>
    public async Task<KvItem?> GetAsync(ReadOnlyMemory<byte> key, ReadConsistency consistency = ReadConsistency.Linearizable,
        CancellationToken cancellationToken = default)
    {
        var request = new GetRequest { Key = ByteString.CopyFrom(key.Span), Consistency = (Consistency)(int)consistency };
        var response = await CallAsync(static (kv, r, o) => kv.GetAsync(r, o), request, cancellationToken).ConfigureAwait(false);
        return response.Found ? ToItem(response.Kv) : null;
    }

    public Task<KvItem?> GetAsync(string key, ReadConsistency consistency = ReadConsistency.Linearizable, CancellationToken cancellationToken = default) =>
        GetAsync(Encoding.UTF8.GetBytes(key), consistency, cancellationToken);

    /// <summary>Up to <paramref name="limit"/> keys starting with the prefix, ascending. A bounded full scan on the server.</summary>
    public async Task<IReadOnlyList<KvItem>> ScanAsync(ReadOnlyMemory<byte> prefix, int limit = 100,
        ReadConsistency consistency = ReadConsistency.Linearizable, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var request = new ScanRequest { Prefix = ByteString.CopyFrom(prefix.Span), Limit = (uint)limit, Consistency = (Consistency)(int)consistency };
        var response = await CallAsync(static (kv, r, o) => kv.ScanAsync(r, o), request, cancellationToken).ConfigureAwait(false);
        return response.Kvs.Select(ToItem).ToList();
    }

    public Task<IReadOnlyList<KvItem>> ScanAsync(string prefix, int limit = 100, ReadConsistency consistency = ReadConsistency.Linearizable,
        CancellationToken cancellationToken = default) =>
        ScanAsync(Encoding.UTF8.GetBytes(prefix), limit, consistency, cancellationToken);

    /// <summary>
    /// The status of the node at <paramref name="endpoint"/> (one attempt, no failover), or of whichever node the
    /// client talks to now when it is null (with retries).
    /// </summary>
    public Task<StatusResponse> StatusAsync(string? endpoint = null, CancellationToken cancellationToken = default)
    {
        if (endpoint is null) return CallAsync(static (kv, r, o) => kv.StatusAsync(r, o), new StatusRequest(), cancellationToken);
        return InvokeAsync(static (kv, r, o) => kv.StatusAsync(r, o), Channel(Normalize(endpoint)), new StatusRequest(), cancellationToken);
    }

    // ---- membership (raftkv.v1.Cluster) ----

    /// <summary>The configuration (voters, learners, addresses) and the leader, as of the call (after a ReadIndex).</summary>
    public Task<MembershipResponse> MemberListAsync(CancellationToken cancellationToken = default) =>
        ClusterCallAsync(static (c, r, o) => c.MemberListAsync(r, o), new MemberListRequest(), cancellationToken);

    /// <summary>
    /// Adds node <paramref name="id"/> as a learner and returns the membership once the change has committed. Safe to
    /// retry: asking again with the same id and addresses returns the membership.
    /// </summary>
    public Task<MembershipResponse> MemberAddLearnerAsync(ulong id, string peerAddress, string clientAddress, CancellationToken cancellationToken = default) =>
        ClusterCallAsync(static (c, r, o) => c.MemberAddLearnerAsync(r, o),
            new MemberAddLearnerRequest { Id = id, PeerAddress = peerAddress, ClientAddress = clientAddress }, cancellationToken);

    /// <summary>Promotes learner <paramref name="id"/> to voter; FAILED_PRECONDITION while it is too far behind (retry later).</summary>
    public Task<MembershipResponse> MemberPromoteAsync(ulong id, CancellationToken cancellationToken = default) =>
        ClusterCallAsync(static (c, r, o) => c.MemberPromoteAsync(r, o), new MemberPromoteRequest { Id = id }, cancellationToken);

    /// <summary>Removes voter or learner <paramref name="id"/> (the leader too) and returns the membership once committed.</summary>
    public Task<MembershipResponse> MemberRemoveAsync(ulong id, CancellationToken cancellationToken = default) =>
        ClusterCallAsync(static (c, r, o) => c.MemberRemoveAsync(r, o), new MemberRemoveRequest { Id = id }, cancellationToken);

    /// <summary>Moves leadership to voter <paramref name="targetId"/> and returns once it leads. Safe to retry.</summary>
    public Task<MembershipResponse> LeaderTransferAsync(ulong targetId, CancellationToken cancellationToken = default) =>
        ClusterCallAsync(static (c, r, o) => c.LeaderTransferAsync(r, o), new LeaderTransferRequest { TargetId = targetId }, cancellationToken);

    /// <summary>
    /// A membership call: retried like a read on UNAVAILABLE (following the leader trailers), each attempt bounded by
    /// <see cref="RaftKvClientOptions.AdminAttemptTimeoutMs"/> because a change waits for its commit.
    /// </summary>
    private Task<MembershipResponse> ClusterCallAsync<TRequest>(Func<Cluster.ClusterClient, TRequest, CallOptions, AsyncUnaryCall<MembershipResponse>> method,
        TRequest request, CancellationToken cancellationToken) =>
        RetryAsync(async endpoint =>
        {
            var options = new CallOptions(headers: _authorization, deadline: _timeProvider.GetUtcNow().UtcDateTime.AddMilliseconds(_options.AdminAttemptTimeoutMs), cancellationToken: cancellationToken);
            try
            {
                return await method(Channel(endpoint).Cluster, request, options).ResponseAsync.ConfigureAwait(false);
            }
            catch (RpcException cancelled) when (cancelled.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("the call was cancelled", cancelled, cancellationToken);
            }
        }, static failure => failure.StatusCode == StatusCode.Unavailable, onRetry: null, cancellationToken);

    /// <summary>
    /// Streams a consistent snapshot from the leader into <paramref name="destination"/> (the snapshot store's file
    /// format; see raftkv.proto's SaveSnapshot) and checks the length and CRC32C the leader sent with it. A refusal
    /// before any byte arrived (a follower's leader hint, no leader yet) is retried like any request; a failure after
    /// bytes were written is not, since they are already in <paramref name="destination"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes received do not match the length or checksum the leader sent.</exception>
    public Task<SnapshotSaveResult> SaveSnapshotAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ulong received = 0;
        return RetryAsync(async endpoint =>
        {
            received = 0;
            try
            {
                using var call = Channel(endpoint).Kv.SaveSnapshot(new SaveSnapshotRequest(), new CallOptions(headers: _authorization, cancellationToken: cancellationToken));
                uint crc = 0xFFFF_FFFF;
                while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    SaveSnapshotResponse message = call.ResponseStream.Current;
                    if (message.Done)
                    {
                        uint actual = ~crc;
                        if (message.TotalBytes != received || message.Crc32C != actual)
                        {
                            throw new InvalidDataException(
                                $"the snapshot arrived damaged: received {received} bytes with CRC32C 0x{actual:x8}, the leader sent {message.TotalBytes} bytes with CRC32C 0x{message.Crc32C:x8}");
                        }
                        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
                        return new SnapshotSaveResult(message.Index, message.Term, message.TotalBytes, message.Crc32C, endpoint);
                    }
                    crc = Crc32CAppend(crc, message.Data.Span);
                    received += (ulong)message.Data.Length;
                    await destination.WriteAsync(message.Data.Memory, cancellationToken).ConfigureAwait(false);
                }
                throw new InvalidDataException($"the snapshot stream ended after {received} bytes without its final checksum message (truncated)");
            }
            catch (RpcException cancelled) when (cancelled.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("the call was cancelled", cancelled, cancellationToken);
            }
        }, failure => received == 0 && IsRetryable(failure.StatusCode), onRetry: null, cancellationToken);
    }

    /// <summary>CRC32C (Castagnoli) running state, the same checksum the snapshot store uses (RaftKv.Storage.Crc32C).</summary>
    private static uint Crc32CAppend(uint state, ReadOnlySpan<byte> data)
    {
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            state = System.Numerics.BitOperations.Crc32C(state, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }
        for (; i < data.Length; i++)
        {
            state = System.Numerics.BitOperations.Crc32C(state, data[i]);
        }
        return state;
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
        _channels.Clear();
    }

    // ---- machinery ----

    private async Task<TResult> WriteAsync<TRequest, TResponse, TResult>(Func<KV.KVClient, TRequest, CallOptions, AsyncUnaryCall<TResponse>> method,
        Func<ulong, ulong, TRequest> build, Func<TResponse, TResult> map, CancellationToken cancellationToken)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_sessionId == 0)
            {
                var registered = await CallAsync(static (kv, r, o) => kv.RegisterSessionAsync(r, o), new RegisterSessionRequest(), cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _sessionId, registered.SessionId);
                _lastSequence = 0;
            }
            // The sequence number is consumed even if this write fails: a later write with a higher number is always
            // safe, and a late-arriving earlier attempt is then refused as stale rather than applied out of order.
            var request = build(_sessionId, ++_lastSequence);
            var attempts = new WriteAttempts();
            try
            {
                return map(await RetryAsync(endpoint => InvokeWriteAsync(method, endpoint, request, cancellationToken),
                    static failure => IsRetryable(failure.StatusCode), failure =>
                    {
                        if (KvMetadata.MayHaveApplied(failure)) attempts.EarlierAttemptMayHaveApplied = true;
                    }, cancellationToken).ConfigureAwait(false));
            }
            catch (RpcException expired) when (KvMetadata.IsSessionExpired(expired))
            {
                // The next write registers a new session; this one is never re-sent under it, because an earlier
                // attempt may have been applied before the session expired.
                Volatile.Write(ref _sessionId, 0);
                throw new RaftKvSessionExpiredException(inDoubt: attempts.EarlierAttemptMayHaveApplied, expired);
            }
            catch (RpcException failure) when (attempts.EarlierAttemptMayHaveApplied && !KvMetadata.MayHaveApplied(failure))
            {
                // The last attempt was certainly not applied, but an earlier one may have been (its reply was lost, or
                // it reached a leader that then lost leadership): the write is in doubt, and the caller must not read
                // the last attempt's "false" as "never applied".
                throw InDoubt(failure);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary><paramref name="failure"/> with its may-have-applied trailer set to "true" (other trailers kept).</summary>
    private static RpcException InDoubt(RpcException failure)
    {
        var trailers = new Metadata();
        foreach (Metadata.Entry entry in failure.Trailers)
        {
            if (entry.Key != KvMetadata.MayHaveAppliedTrailer) trailers.Add(entry);
        }
        trailers.Add(KvMetadata.MayHaveAppliedTrailer, "true");
        return new RpcException(failure.Status, trailers, failure.Message);
    }

    /// <summary>One request with bounded retries of retryable failures; the request object never changes.</summary>
    private Task<TResponse> CallAsync<TRequest, TResponse>(Func<KV.KVClient, TRequest, CallOptions, AsyncUnaryCall<TResponse>> method, TRequest request,
        CancellationToken cancellationToken)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        RetryAsync(endpoint => InvokeAsync(method, Channel(endpoint), request, cancellationToken), static failure => IsRetryable(failure.StatusCode), null,
            cancellationToken);

    /// <summary>
    /// The retry loop every call shares: find the leader once, then up to <see cref="RaftKvClientOptions.MaxAttempts"/>
    /// attempts with exponential backoff, each at the current endpoint; a <paramref name="retryable"/> failure moves to
    /// the leader it names, or to the next endpoint. <paramref name="onRetry"/> sees each retried failure.
    /// </summary>
    private async Task<T> RetryAsync<T>(Func<string, Task<T>> attempt, Func<RpcException, bool> retryable, Action<RpcException>? onRetry,
        CancellationToken cancellationToken)
    {
        await MaybeDiscoverLeaderAsync(cancellationToken).ConfigureAwait(false);
        RpcException? last = null;
        int backoffMs = _options.InitialBackoffMs;
        for (int number = 1; number <= _options.MaxAttempts; number++)
        {
            if (number > 1)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), _timeProvider, cancellationToken).ConfigureAwait(false);
                backoffMs = Math.Min(backoffMs * 2, _options.MaxBackoffMs);
            }
            string endpoint = CurrentEndpoint;
            try
            {
                return await attempt(endpoint).ConfigureAwait(false);
            }
            catch (RpcException failure) when (retryable(failure) && !cancellationToken.IsCancellationRequested)
            {
                last = failure;
                onRetry?.Invoke(failure);
                if (KvMetadata.LeaderEndpoint(failure) is { } leader) Prefer(leader);
                else RotateFrom(endpoint);
            }
        }
        throw last!;
    }

    private static bool IsRetryable(StatusCode code) => code is StatusCode.Unavailable or StatusCode.DeadlineExceeded;

    /// <summary>
    /// One attempt, bounded by <see cref="RaftKvClientOptions.AttemptTimeoutMs"/> (DEADLINE_EXCEEDED). The caller's
    /// cancellation surfaces as <see cref="OperationCanceledException"/>, not as a CANCELLED status.
    /// </summary>
    private async Task<TResponse> InvokeAsync<TRequest, TResponse>(Func<KV.KVClient, TRequest, CallOptions, AsyncUnaryCall<TResponse>> method,
        Endpoint endpoint, TRequest request, CancellationToken cancellationToken)
    {
        var options = new CallOptions(headers: _authorization, deadline: _timeProvider.GetUtcNow().UtcDateTime.AddMilliseconds(_options.AttemptTimeoutMs), cancellationToken: cancellationToken);
        try
        {
            using AsyncUnaryCall<TResponse> call = method(endpoint.Kv, request, options);
            TResponse response = await call.ResponseAsync.ConfigureAwait(false);
            // A follower that forwarded the request to the leader names it: go there directly from now on.
            if (call.GetTrailers().GetValue(KvMetadata.LeaderEndpointTrailer) is { Length: > 0 } leader) Prefer(leader);
            return response;
        }
        catch (RpcException cancelled) when (cancelled.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("the call was cancelled", cancelled, cancellationToken);
        }
    }

    /// <summary>
    /// One attempt of a write: in a WriteBatch with other clients' writes when this client shares its handler (see
    /// <see cref="RaftKvClientOptions.BatchWrites"/>), otherwise as its own call. Either way it ends as its own call
    /// would: the same response, or the same <see cref="RpcException"/> with the same trailers.
    /// </summary>
    private async Task<TResponse> InvokeWriteAsync<TRequest, TResponse>(Func<KV.KVClient, TRequest, CallOptions, AsyncUnaryCall<TResponse>> method,
        string endpoint, TRequest request, CancellationToken cancellationToken)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        WriteBatcher? batcher = _options is { BatchWrites: true, SharedHttpHandler: { } handler } ? WriteBatcher.For(handler, endpoint, _options.BearerToken) : null;
        if (batcher is null || batcher.Unsupported || WriteBatcher.Op(request) is not { } op) return await InvokeAsync(method, Channel(endpoint), request, cancellationToken).ConfigureAwait(false);
        try
        {
            (WriteResult result, string? leader) = await batcher.WriteAsync(op,
                _timeProvider.GetUtcNow().UtcDateTime.AddMilliseconds(_options.AttemptTimeoutMs), cancellationToken).ConfigureAwait(false);
            // A follower that forwarded the batch to the leader names it: go there directly from now on.
            if (leader is { Length: > 0 }) Prefer(leader);
            return WriteBatcher.Response<TResponse>(result);
        }
        catch (RpcException unimplemented) when (unimplemented.StatusCode == StatusCode.Unimplemented && batcher.Unsupported)
        {
            // The gateway has no WriteBatch, so nothing was run: the write goes as a single call instead.
            return await InvokeAsync(method, Channel(endpoint), request, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException cancelled) when (cancelled.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("the call was cancelled", cancelled, cancellationToken);
        }
    }

    private async Task MaybeDiscoverLeaderAsync(CancellationToken cancellationToken)
    {
        if (_leaderDiscovered) return;
        string[] seeds;
        lock (_endpoints) seeds = [.. _endpoints];
        foreach (string seed in seeds)
        {
            try
            {
                var status = await InvokeAsync(static (kv, r, o) => kv.StatusAsync(r, o), Channel(seed), new StatusRequest(), cancellationToken).ConfigureAwait(false);
                Prefer(status.LeaderAddress.Length > 0 ? status.LeaderAddress : seed);
                _leaderDiscovered = true;
                return;
            }
            catch (RpcException failure) when (IsRetryable(failure.StatusCode) && !cancellationToken.IsCancellationRequested)
            {
                // Try the next seed; if none answers, the request's own retries take over.
            }
        }
    }

    private void Prefer(string address)
    {
        address = Normalize(address);
        lock (_endpoints)
        {
            int index = _endpoints.IndexOf(address);
            if (index < 0)
            {
                _endpoints.Add(address);
                index = _endpoints.Count - 1;
            }
            _currentEndpoint = index;
        }
    }

    private void RotateFrom(string failed)
    {
        lock (_endpoints)
        {
            // Only move on if no concurrent request has already moved us away from the failed address.
            if (_endpoints[_currentEndpoint] == failed) _currentEndpoint = (_currentEndpoint + 1) % _endpoints.Count;
        }
    }

    private Endpoint Channel(string endpoint) => _channels.GetOrAdd(endpoint, static (e, options) => new Endpoint(e, options), _options);

    private static string Normalize(string endpoint) => endpoint.Trim().TrimEnd('/');

    private static KvItem ToItem(KeyValue kv) => new(kv.Key.ToByteArray(), kv.Value.ToByteArray(), kv.CreateRevision, kv.ModRevision);

    /// <summary>What the failed attempts of one write said about whether they may have been applied.</summary>
    private sealed class WriteAttempts
    {
        public bool EarlierAttemptMayHaveApplied;
    }

    /// <summary>One gateway address: its channel (an HTTP/2 connection pool, or the shared handler) and the generated client.</summary>
    private sealed class Endpoint : IDisposable
    {
        private readonly GrpcChannel _channel;

        public Endpoint(string address, RaftKvClientOptions options)
        {
            _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
            {
                // A shared handler belongs to the application (DisposeHttpClient stays false); without one the channel
                // owns its own, with the client's TLS settings if it has any and without gRPC's load balancing.
                HttpHandler = options.SharedHttpHandler ?? options.CreateHttpHandler(),
                DisposeHttpClient = options.SharedHttpHandler is null,
            });
            Kv = new KV.KVClient(_channel);
            Cluster = new Cluster.ClusterClient(_channel);
        }

        public KV.KVClient Kv { get; }

        public Cluster.ClusterClient Cluster { get; }

        public void Dispose() => _channel.Dispose();
    }
}
