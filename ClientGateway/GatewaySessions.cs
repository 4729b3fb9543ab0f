using System.Collections.Concurrent;

namespace RaftKv.ClientGateway;

/// <summary>
/// One gate per client session: a session's requests run one at a time through this gateway, so a retry of
/// (session, sequence) is normally proposed after the earlier attempt's proposal finished. Not always: a caller that
/// cancels (its deadline passed) leaves the gate while its proposal is still pending, so two copies may reach the log.
/// Exactly-once does not rest on the gate but on the replicated session table, which applies the first copy and
/// answers the later one with its reply. Idle gates are evicted; eviction never removes a gate that is held or awaited. Idle time is
/// measured on the monotonic timestamp, not the wall clock: a wall clock stepped back (NTP) would otherwise stop
/// eviction for as long as the step, and a gate per session seen meanwhile would pile up.
/// </summary>
internal sealed class GatewaySessions(TimeProvider timeProvider, long idleEvictionMs)
{
    private readonly ConcurrentDictionary<ulong, Gate> _gates = new();
    private long _lastSweepTimestamp = timeProvider.GetTimestamp();

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
            gate.LastUsedTimestamp = timeProvider.GetTimestamp();
        }
    }

    private void MaybeSweep()
    {
        long now = timeProvider.GetTimestamp();
        long last = Interlocked.Read(ref _lastSweepTimestamp);
        if (ElapsedMs(last, now) < idleEvictionMs || Interlocked.CompareExchange(ref _lastSweepTimestamp, now, last) != last) return;
        foreach (var (id, gate) in _gates)
        {
            lock (gate)
            {
                // Invariant: a gate with Users > 0 is held or awaited and stays in the map.
                if (gate.Users == 0 && ElapsedMs(gate.LastUsedTimestamp, now) >= idleEvictionMs)
                {
                    gate.Evicted = true;
                    _gates.TryRemove(new KeyValuePair<ulong, Gate>(id, gate));
                }
            }
        }
    }

    private double ElapsedMs(long since, long now) => timeProvider.GetElapsedTime(since, now).TotalMilliseconds;

    internal sealed class Gate
    {
        public readonly SemaphoreSlim Semaphore = new(1, 1);
        public int Users;
        public long LastUsedTimestamp;
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
