namespace RaftKv.Chaos.Workloads;

/// <summary>
/// What a workload needs from a client kind: the four register operations on string keys and values. Each instance
/// is one logical client (one session, one operation at a time). Exceptions are outcomes: the workload asks
/// <see cref="IsDefinitelyNotApplied"/> whether a failed write can be recorded as "fail"; anything else is "info".
/// </summary>
/// <remarks>
/// The gRPC gateway client is <see cref="GatewayWorkloadClient"/>. A second kind (Orleans KV grains called from an
/// Orleans client) implements this interface and a <see cref="IKvClientFactory"/>, and nothing else changes.
/// </remarks>
public interface IKvWorkloadClient : IAsyncDisposable
{
    /// <summary>The value, or null when the key does not exist. Linearizable.</summary>
    Task<string?> GetAsync(string key, CancellationToken cancellationToken);

    Task PutAsync(string key, string value, CancellationToken cancellationToken);

    /// <summary>True if the key existed.</summary>
    Task<bool> DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>Swaps when the current value equals <paramref name="expected"/> (null: the key is absent); on failure, the current value.</summary>
    Task<(bool Succeeded, string? Current)> CompareAndSwapAsync(string key, string? expected, string value, CancellationToken cancellationToken);

    /// <summary>
    /// True only when the error proves the write had no effect (e.g. refused by validation before any proposal).
    /// Timeouts, lost connections, "unavailable" after a possible proposal: false.
    /// </summary>
    bool IsDefinitelyNotApplied(Exception error);
}

/// <summary>Creates workload clients: one talking to every node, or one pinned to a single node.</summary>
public interface IKvClientFactory
{
    string Name { get; }

    IKvWorkloadClient Create(IReadOnlyList<int>? onlyNodes = null);
}
