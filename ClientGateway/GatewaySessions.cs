using System.Collections.Concurrent;

namespace RaftKv.ClientGateway;

/// <summary>
/// One gate per client session: a session's requests run one at a time through this gateway, so a retry of
/// (session, sequence) is only proposed after the earlier attempt's proposal finished, and the replicated session
/// table answers it. Idle gates are evicted; eviction never removes a gate that is held or awaited.
/// </summary>
internal sealed class GatewaySessions(TimeProvider timeProvider, long idleEvictionMs)
{
    private readonly ConcurrentDictionary<ulong, Gate> _gates = new();
    private long _lastSweepMs = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    public int Count => _gates.Count;

    /// <summary>Waits for the session's gate; dispose the result to release it.</summary>
    public async ValueTask<Lease> EnterAsync(ulong sessionId, CancellationToken cancellationToken)
    {
        MaybeSweep();
        while (true)
        {
            var gate = _gates.GetOrAdd(sessionId, static _ => new Gate());
            lock (gate)
            {
                // A gate evicted between the lookup and this lock is dead; take (or create) its successor.
                if (gate.Evicted) continue;
                gate.Users++;
            }
            try
            {
                await gate.Semaphore.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Leave(gate);
                throw;
            }
            return new Lease(this, gate);
        }
    }

    private void Leave(Gate gate)
    {
        lock (gate)
        {
            gate.Users--;
            gate.LastUsedMs = NowMs();
        }
    }

    private void MaybeSweep()
    {
        long now = NowMs();
        long last = Interlocked.Read(ref _lastSweepMs);
        if (now - last < idleEvictionMs || Interlocked.CompareExchange(ref _lastSweepMs, now, last) != last) return;
        foreach (var (id, gate) in _gates)
        {
            lock (gate)
            {
                // Invariant: a gate with Users > 0 is held or awaited and stays in the map.
                if (gate.Users == 0 && now - gate.LastUsedMs >= idleEvictionMs)
                {
                    gate.Evicted = true;
                    _gates.TryRemove(new KeyValuePair<ulong, Gate>(id, gate));
                }
            }
        }
    }

    private long NowMs() => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    internal sealed class Gate
    {
        public readonly SemaphoreSlim Semaphore = new(1, 1);
        public int Users;
        public long LastUsedMs;
        public bool Evicted;
    }

    internal readonly struct Lease(GatewaySessions owner, Gate gate) : IDisposable
    {
        public void Dispose()
        {
            gate.Semaphore.Release();
            owner.Leave(gate);
        }
    }
}
