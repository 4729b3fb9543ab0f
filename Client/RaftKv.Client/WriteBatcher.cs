using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Grpc.Net.Client;
using RaftKv.Client.Protos;

namespace RaftKv.Client;

/// <summary>
/// Sends the concurrent writes of every <see cref="RaftKvClient"/> that shares one <see cref="RaftKvClientOptions.SharedHttpHandler"/>
/// (and bearer token) to one gateway address as WriteBatch calls: one HTTP/2 stream, one set of headers and trailers,
/// one request through the gateway's pipeline per batch instead of per write. Each write keeps its own session,
/// sequence number, result and error, so the clients' retry and exactly-once logic is the same as for single calls.
/// </summary>
/// <remarks>
/// Batching is opportunistic and adds no delay: the first write queued schedules a drain on the thread pool, and the
/// drain sends whatever has been queued by the time it runs (under load, the writes that a burst of replies set off),
/// each batch as its own call, several in flight at once. A lone write is a batch of one.
/// </remarks>
internal sealed class WriteBatcher
{
    private static readonly ConditionalWeakTable<HttpMessageHandler, ConcurrentDictionary<(string Address, string? Token), WriteBatcher>> Shared = [];

    private readonly KV.KVClient _kv;
    private readonly Metadata? _authorization;
    private readonly ConcurrentQueue<Pending> _queue = new();
    private int _draining;
    private volatile bool _unsupported;

    private WriteBatcher(HttpMessageHandler handler, string address, Metadata? authorization)
    {
        // The application owns the shared handler: the channel never disposes it, and the channel holds nothing else.
        _kv = new KV.KVClient(GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = false }));
        _authorization = authorization;
    }

    /// <summary>The batcher of <paramref name="address"/> for clients on <paramref name="handler"/> with <paramref name="token"/>.</summary>
    public static WriteBatcher For(HttpMessageHandler handler, string address, string? token) =>
        Shared.GetValue(handler, static _ => new()).GetOrAdd((address, token),
            static (key, h) => new WriteBatcher(h, key.Address, KvMetadata.Authorization(key.Token)), handler);

    /// <summary>True once the gateway answered UNIMPLEMENTED (it predates WriteBatch): writes then go as single calls.</summary>
    public bool Unsupported => _unsupported;

    /// <summary>
    /// Queues one write; completes with its result (and the leader endpoint a forwarding follower named), or fails as
    /// the whole batch's call failed. <paramref name="cancellationToken"/> gives up on this write only.
    /// </summary>
    public Task<(WriteResult Result, string? LeaderEndpoint)> WriteAsync(WriteOp op, DateTime deadline, CancellationToken cancellationToken)
    {
        var pending = new Pending(op, deadline, cancellationToken);
        _queue.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _draining, 1, 0) == 0) ThreadPool.UnsafeQueueUserWorkItem(static self => self.Drain(), this, preferLocal: false);
        return cancellationToken.CanBeCanceled ? pending.Done.Task.WaitAsync(cancellationToken) : pending.Done.Task;
    }

    private void Drain()
    {
        var carried = new List<Pending>();
        while (true)
        {
            var batch = new List<Pending>();
            var sessions = new HashSet<ulong>();
            int bytes = 0;
            List<Pending> earlier = carried;
            carried = [];
            foreach (Pending pending in earlier) Place(pending);
            while (batch.Count < MaxOps && carried.Count == 0 && _queue.TryDequeue(out Pending? pending)) Place(pending);
            if (batch.Count > 0)
            {
                _ = SendAsync(batch);
                continue;
            }
            Volatile.Write(ref _draining, 0);
            // A write queued after the last dequeue but before the flag cleared found the flag set and scheduled nothing.
            if (_queue.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return;

            // Into this batch, or the next one: a session's retry can only be queued once its previous attempt gave
            // up, but should both be here they go separately (a batch carries one write per session); and a batch
            // stays within MaxBytes unless one write alone is larger (it then goes alone, as its own call would).
            void Place(Pending pending)
            {
                if (pending.Cancellation.IsCancellationRequested)
                {
                    pending.Done.TrySetCanceled(pending.Cancellation);
                }
                else if (batch.Count == MaxOps || (pending.Session != 0 && sessions.Contains(pending.Session)) || (batch.Count > 0 && bytes + pending.Bytes > MaxBytes))
                {
                    carried.Add(pending);
                }
                else
                {
                    batch.Add(pending);
                    sessions.Add(pending.Session);
                    bytes += pending.Bytes;
                }
            }
        }
    }

    /// <summary>Writes per call, below the gateway's limit (1024).</summary>
    private const int MaxOps = 256;

    /// <summary>
    /// Bytes of writes per call: within the smallest message limit a gateway may be configured with
    /// (RaftKv:Limits:ClientMaxReceiveMessageBytes, at least 64 KiB), so a batch is never refused for its size where
    /// its writes one by one would not be.
    /// </summary>
    private const int MaxBytes = 60 * 1024;

    private async Task SendAsync(List<Pending> batch)
    {
        var request = new WriteBatchRequest();
        DateTime deadline = DateTime.MaxValue;
        foreach (Pending pending in batch)
        {
            request.Ops.Add(pending.Op);
            if (pending.Deadline < deadline) deadline = pending.Deadline;
        }
        try
        {
            using AsyncUnaryCall<WriteBatchResponse> call = _kv.WriteBatchAsync(request, new CallOptions(headers: _authorization, deadline: deadline));
            WriteBatchResponse response = await call.ResponseAsync.ConfigureAwait(false);
            if (response.Results.Count != batch.Count)
            {
                Fail(batch, UnexpectedAnswer($"the gateway answered {response.Results.Count} results for a batch of {batch.Count} writes"));
                return;
            }
            string? leader = call.GetTrailers().GetValue(KvMetadata.LeaderEndpointTrailer);
            for (int i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult((response.Results[i], leader));
        }
        catch (RpcException failure)
        {
            if (failure.StatusCode == StatusCode.Unimplemented) _unsupported = true;
            Fail(batch, failure);
        }
        catch (Exception failure)
        {
            Fail(batch, failure);
        }
    }

    private static void Fail(List<Pending> batch, Exception failure)
    {
        foreach (Pending pending in batch) pending.Done.TrySetException(failure);
    }

    /// <summary>The response of a single call, from a write's batch result; an error result throws that call's failure.</summary>
    public static TResponse Response<TResponse>(WriteResult result)
        where TResponse : class
    {
        object? response = result.ResultCase switch
        {
            WriteResult.ResultOneofCase.Put => result.Put,
            WriteResult.ResultOneofCase.Delete => result.Delete,
            WriteResult.ResultOneofCase.CompareAndSwap => result.CompareAndSwap,
            WriteResult.ResultOneofCase.Error => throw KvMetadata.ToRpcException(result.Error),
            _ => null,
        };
        return response as TResponse ?? throw UnexpectedAnswer($"the gateway answered a {result.ResultCase} result for a {typeof(TResponse).Name} write");
    }

    /// <summary>A WriteBatch answer that does not fit its request: INTERNAL, and the writes may have been applied.</summary>
    private static RpcException UnexpectedAnswer(string message) =>
        new(new Status(StatusCode.Internal, message), new Metadata { { KvMetadata.MayHaveAppliedTrailer, "true" } });

    /// <summary>The batch op of a single write's request; null for a request that is not a write.</summary>
    public static WriteOp? Op(object request) => request switch
    {
        PutRequest put => new WriteOp { Put = put },
        DeleteRequest delete => new WriteOp { Delete = delete },
        CompareAndSwapRequest cas => new WriteOp { CompareAndSwap = cas },
        _ => null,
    };

    private sealed class Pending(WriteOp op, DateTime deadline, CancellationToken cancellation)
    {
        public WriteOp Op { get; } = op;
        public ulong Session { get; } = op.SessionId;
        public DateTime Deadline { get; } = deadline;
        public CancellationToken Cancellation { get; } = cancellation;
        public int Bytes { get; } = op.CalculateSize();
        public TaskCompletionSource<(WriteResult, string?)> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
