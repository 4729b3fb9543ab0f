using System.Text;

namespace RaftKv.Grains;

/// <summary>
/// The client side of one RaftKv session for an Orleans application: it owns the session id and hands out its
/// sequence numbers, and it retries a write that timed out or met a leader change with the SAME sequence number, so
/// the write is applied exactly once. Open one with <see cref="RaftKvGrainFactoryExtensions.OpenRaftKvSessionAsync"/>.
/// </summary>
/// <remarks>
/// A session runs one write at a time (concurrent calls wait their turn): the replicated session table remembers
/// only a session's latest reply, so two writes of one session in flight at once could make the earlier one stale.
/// For parallel writes open several sessions. Reads need no session and do not wait.
/// An application that retries on its own takes a number with <see cref="NextSequence"/> and passes it to every
/// attempt of <see cref="WriteAsync(ulong, KvWrite, CancellationToken)"/>.
/// </remarks>
public sealed class RaftKvSession : IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly IClientSessionGrain _session;
    private readonly RaftKvSessionOptions _options;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private long _lastSequence;

    public RaftKvSession(IGrainFactory grains, ulong sessionId, RaftKvSessionOptions? options = null, ulong lastSequence = 0)
    {
        ArgumentNullException.ThrowIfNull(grains);
        if (sessionId == 0) throw new ArgumentOutOfRangeException(nameof(sessionId), "session id 0 names no session");
        _grains = grains;
        _options = options ?? new RaftKvSessionOptions();
        SessionId = sessionId;
        _session = grains.GetGrain<IClientSessionGrain>((long)sessionId);
        _lastSequence = (long)lastSequence;
    }

    public ulong SessionId { get; }

    /// <summary>The next sequence number of this session (1, 2, ...). Use it for every attempt of one write.</summary>
    public ulong NextSequence() => (ulong)Interlocked.Increment(ref _lastSequence);

    public Task<KvWriteResult> PutAsync(string key, string value, CancellationToken cancellationToken = default) =>
        WriteAsync(KvWrite.Put(Utf8(key), Utf8(value)), cancellationToken);

    public Task<KvWriteResult> PutAsync(string key, byte[] value, CancellationToken cancellationToken = default) =>
        WriteAsync(KvWrite.Put(Utf8(key), value), cancellationToken);

    public Task<KvWriteResult> DeleteAsync(string key, CancellationToken cancellationToken = default) =>
        WriteAsync(KvWrite.Delete(Utf8(key)), cancellationToken);

    public Task<KvWriteResult> CompareAndSwapAsync(string key, byte[] expectedValue, byte[] newValue, CancellationToken cancellationToken = default) =>
        WriteAsync(KvWrite.CompareValueAndSwap(Utf8(key), expectedValue, newValue), cancellationToken);

    /// <summary>Writes only if the key's mod revision is <paramref name="expectedModRevision"/> (0: only if the key is absent).</summary>
    public Task<KvWriteResult> CompareRevisionAndSwapAsync(string key, ulong expectedModRevision, byte[] newValue, CancellationToken cancellationToken = default) =>
        WriteAsync(KvWrite.CompareRevisionAndSwap(Utf8(key), expectedModRevision, newValue), cancellationToken);

    /// <summary>Reads a key (through its KV grain); linearizable unless Stale is asked for.</summary>
    public Task<KvItem?> GetAsync(string key, ReadConsistency consistency = ReadConsistency.Linearizable) =>
        _grains.GetGrain<IKvGrain>(key).GetAsync(consistency);

    /// <summary>Takes the next sequence number and applies <paramref name="write"/> exactly once.</summary>
    public Task<KvWriteResult> WriteAsync(KvWrite write, CancellationToken cancellationToken = default) =>
        WriteAsync(NextSequence(), write, cancellationToken);

    /// <summary>
    /// Applies <paramref name="write"/> as request <paramref name="sequence"/> of this session, retrying retryable
    /// failures (timeouts, no leader, an unreachable silo) with the same number until
    /// <see cref="RaftKvSessionOptions.MaxAttempts"/>; the last failure is thrown.
    /// </summary>
    public async Task<KvWriteResult> WriteAsync(ulong sequence, KvWrite write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (sequence == 0) throw new ArgumentOutOfRangeException(nameof(sequence), "sequence numbers start at 1");
        await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    return await _session.WriteAsync(sequence, write).WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (attempt < _options.MaxAttempts && IsRetryable(e))
                {
                    await Task.Delay(Backoff(attempt), cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>Marks the session active so it does not expire while the application is idle.</summary>
    public Task KeepAliveAsync() => _session.KeepAliveAsync();

    public void Dispose() => _oneAtATime.Dispose();

    /// <summary>
    /// True for failures after which the same request may be sent again: RaftKv's retryable errors, a call that
    /// timed out (it may still be applied: the retry carries the same sequence number), or a silo that went away.
    /// </summary>
    public static bool IsRetryable(Exception error) => error switch
    {
        RaftKvException raftKv => raftKv.IsRetryable,
        TimeoutException => true,
        Orleans.Runtime.OrleansMessageRejectionException => true,
        // The gateway silo died or was cut off: the same (session, sequence) through another gateway is safe (the
        // session table answers a write that was applied), and the chaos runner saw these give up writes needlessly.
        Orleans.Runtime.Messaging.ConnectionFailedException => true,
        _ => false,
    };

    private TimeSpan Backoff(int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(_options.MaxBackoffMs, _options.InitialBackoffMs * (1L << Math.Min(attempt - 1, 16))));

    private static byte[] Utf8(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return Encoding.UTF8.GetBytes(text);
    }
}

/// <summary>Retry policy of a <see cref="RaftKvSession"/>.</summary>
public sealed record RaftKvSessionOptions
{
    /// <summary>Attempts per write, the first included.</summary>
    public int MaxAttempts { get; init; } = 10;

    public int InitialBackoffMs { get; init; } = 50;

    public int MaxBackoffMs { get; init; } = 1_000;
}

public static class RaftKvGrainFactoryExtensions
{
    /// <summary>Registers a new RaftKv session (one log entry) and returns its client side.</summary>
    public static async Task<RaftKvSession> OpenRaftKvSessionAsync(this IGrainFactory grains, RaftKvSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grains);
        options ??= new RaftKvSessionOptions();
        var registrar = grains.GetGrain<ISessionRegistrarGrain>(0);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                // A retry after a timeout may register a second session; the unused one simply expires.
                ulong id = await registrar.RegisterAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
                return new RaftKvSession(grains, id, options);
            }
            catch (Exception e) when (attempt < options.MaxAttempts && RaftKvSession.IsRetryable(e))
            {
                await Task.Delay(options.InitialBackoffMs * attempt, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The KV grain of <paramref name="key"/>.</summary>
    public static IKvGrain GetKvGrain(this IGrainFactory grains, string key)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentException.ThrowIfNullOrEmpty(key);
        return grains.GetGrain<IKvGrain>(key);
    }
}
