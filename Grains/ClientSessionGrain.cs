using Orleans.Concurrency;

namespace RaftKv.Grains;

/// <summary>
/// One client session (keyed by its id). Orleans runs a grain's calls one at a time, which serializes the session:
/// a retry of (session, sequence) is sent to the leader only after the earlier attempt finished, and the replicated
/// session table answers it. The grain keeps no state: losing the activation loses nothing.
/// </summary>
public sealed class ClientSessionGrain(RaftLeaderRouter router) : Grain, IClientSessionGrain
{
    private ulong SessionId => (ulong)this.GetPrimaryKeyLong();

    public Task<KvWriteResult> WriteAsync(ulong sequence, KvWrite write)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (SessionId == 0) throw new RaftKvInvalidArgumentException("session id 0 names no session; register a session first");
        if (sequence == 0) throw new RaftKvInvalidArgumentException("a write needs a sequence number of at least 1");
        ulong sessionId = SessionId;
        return router.OnLeaderAsync(node => node.ProposeAsync(sessionId, sequence, write));
    }

    public Task KeepAliveAsync()
    {
        ulong sessionId = SessionId;
        if (sessionId == 0) throw new RaftKvInvalidArgumentException("session id 0 names no session; register a session first");
        return router.OnLeaderAsync(async node =>
        {
            await node.KeepAliveAsync(sessionId).ConfigureAwait(true);
            return true;
        });
    }
}

/// <summary>Registers sessions through the leader; stateless, so any silo serves it locally.</summary>
[StatelessWorker]
public sealed class SessionRegistrarGrain(RaftLeaderRouter router) : Grain, ISessionRegistrarGrain
{
    public Task<ulong> RegisterAsync() => router.OnLeaderAsync(node => node.RegisterSessionAsync());
}
