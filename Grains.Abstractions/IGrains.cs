namespace RaftKv.Grains;

/// <summary>
/// One client session, keyed by its session id (the log index of its RegisterSession entry). The grain runs the
/// session's requests one at a time and sends each to the leader's node with the caller's (session, sequence) on
/// every retry, so a request is applied at most once however often it is retried, by the grain or by the caller.
/// It keeps nothing it cannot lose: the replicated session table is the truth, so a lost activation loses nothing.
/// </summary>
/// <remarks>
/// This is the one exactly-once write path: Orleans applications reach it through <see cref="RaftKvSession"/>, and
/// the gRPC client gateway calls <see cref="WriteAsync"/> with the session id and sequence number from the request.
/// </remarks>
[Alias("raftkv.IClientSessionGrain")]
public interface IClientSessionGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Applies <paramref name="write"/> as request <paramref name="sequence"/> (at least 1) of this session, or, if
    /// that sequence number was applied already, returns its original result. Sequence numbers of a session must
    /// increase; a number below the last applied one throws <see cref="RaftKvStaleSequenceException"/>.
    /// </summary>
    [Alias("Write")]
    Task<KvWriteResult> WriteAsync(ulong sequence, KvWrite write);

    /// <summary>Marks the session active (in log time) so it does not expire while the client is idle.</summary>
    [Alias("KeepAlive")]
    Task KeepAliveAsync();
}

/// <summary>Registers client sessions (a stateless worker: any silo, any activation).</summary>
[Alias("raftkv.ISessionRegistrarGrain")]
public interface ISessionRegistrarGrain : IGrainWithIntegerKey
{
    /// <summary>Registers a new session through the log and returns its id; call <see cref="IClientSessionGrain"/> with it.</summary>
    [Alias("Register")]
    Task<ulong> RegisterAsync();
}

/// <summary>
/// One key of the store, keyed by the key (UTF-8), for Orleans applications. Revisions are Raft log indices.
/// Each call is applied at most once even across leader changes (the grain retries with one session and sequence
/// number); an application that retries a call that timed out should use <see cref="RaftKvSession"/> instead,
/// which keeps the sequence number across the application's own retries.
/// </summary>
[Alias("raftkv.IKvGrain")]
public interface IKvGrain : IGrainWithStringKey
{
    /// <summary>The key's value and revisions, or null if it does not exist. Linearizable unless Stale is asked for.</summary>
    [Alias("Get")]
    Task<KvItem?> GetAsync(ReadConsistency consistency = ReadConsistency.Linearizable);

    [Alias("Put")]
    Task<KvWriteResult> PutAsync(byte[] value);

    /// <summary>Deletes the key; <see cref="KvWriteStatus.NotFound"/> if it did not exist.</summary>
    [Alias("Delete")]
    Task<KvWriteResult> DeleteAsync();

    /// <summary>Writes <paramref name="newValue"/> only if the current value equals <paramref name="expectedValue"/>.</summary>
    [Alias("CompareValueAndSwap")]
    Task<KvWriteResult> CompareAndSwapAsync(byte[] expectedValue, byte[] newValue);

    /// <summary>Writes <paramref name="newValue"/> only if the key's mod revision is <paramref name="expectedModRevision"/> (0: only if absent).</summary>
    [Alias("CompareRevisionAndSwap")]
    Task<KvWriteResult> CompareRevisionAndSwapAsync(ulong expectedModRevision, byte[] newValue);
}
