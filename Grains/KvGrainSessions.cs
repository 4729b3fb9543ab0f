using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace RaftKv.Grains;

/// <summary>
/// The sessions KV grains write with: a per-silo pool, so a write costs no RegisterSession entry once the pool is
/// warm, and the number of live sessions is bounded by the silo's write concurrency rather than by the number of
/// keys. A session is lent to one write at a time (its sequence numbers must increase in the order they apply) and
/// is returned only after a write that completed; one whose last write failed is dropped and simply expires.
/// </summary>
public sealed class KvGrainSessions(RaftLeaderRouter router, IOptions<RaftKvGrainOptions> options, TimeProvider timeProvider)
{
    private readonly ConcurrentBag<Lease> _idle = [];
    private readonly long _maxIdleMs = options.Value.SessionPoolIdleMs;

    /// <summary>Sessions currently idle in the pool (for tests and metrics).</summary>
    public int IdleCount => _idle.Count;

    public async ValueTask<Lease> RentAsync()
    {
        long now = NowMs();
        while (_idle.TryTake(out Lease? lease))
        {
            if (now - lease.LastUsedMs < _maxIdleMs) return lease;
        }
        ulong id = await router.OnLeaderAsync(node => node.RegisterSessionAsync()).ConfigureAwait(true);
        return new Lease(id);
    }

    public void Return(Lease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        lease.LastUsedMs = NowMs();
        _idle.Add(lease);
    }

    private long NowMs() => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>A session lent to one write.</summary>
    public sealed class Lease(ulong sessionId)
    {
        private ulong _lastSequence;

        public ulong SessionId { get; } = sessionId;

        internal long LastUsedMs { get; set; }

        public ulong NextSequence() => ++_lastSequence;
    }
}
