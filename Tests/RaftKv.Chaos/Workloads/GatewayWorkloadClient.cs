using System.Text;
using RaftKv.Chaos.Cluster;
using RaftKv.Client;

namespace RaftKv.Chaos.Workloads;

/// <summary>The public .NET client (<see cref="RaftKvClient"/>) over the gRPC gateway.</summary>
public sealed class GatewayWorkloadClient(RaftKvClient client) : IKvWorkloadClient
{
    public async Task<string?> GetAsync(string key, CancellationToken cancellationToken)
    {
        KvItem? item = await client.GetAsync(key, ReadConsistency.Linearizable, cancellationToken).ConfigureAwait(false);
        return item is null ? null : Encoding.UTF8.GetString(item.Value);
    }

    public Task PutAsync(string key, string value, CancellationToken cancellationToken) => client.PutAsync(key, value, cancellationToken);

    public async Task<bool> DeleteAsync(string key, CancellationToken cancellationToken) =>
        (await client.DeleteAsync(key, cancellationToken).ConfigureAwait(false)).Deleted;

    public async Task<(bool Succeeded, string? Current)> CompareAndSwapAsync(string key, string? expected, string value, CancellationToken cancellationToken)
    {
        CasExpectation expectation = expected is null ? CasExpectation.Absent : CasExpectation.Value(Encoding.UTF8.GetBytes(expected));
        CasResult result = await client.CompareAndSwapAsync(key, expectation, value, cancellationToken).ConfigureAwait(false);
        return (result.Succeeded, result.CurrentValue is null ? null : Encoding.UTF8.GetString(result.CurrentValue));
    }

    /// <summary>
    /// Only an expired session whose write was sent once is known not applied (the client says so). Every status
    /// code the gateway returns for a write may follow a proposal that later commits, so all else is unknown.
    /// </summary>
    public bool IsDefinitelyNotApplied(Exception error) => error is RaftKvSessionExpiredException { InDoubt: false };

    public ValueTask DisposeAsync() => client.DisposeAsync();
}

public sealed class GatewayClientFactory(ChaosCluster cluster) : IKvClientFactory
{
    private readonly SocketsHttpHandler _handler = new() { EnableMultipleHttp2Connections = true, ConnectTimeout = TimeSpan.FromSeconds(1) };

    public string Name => "grpc";

    public IKvWorkloadClient Create(IReadOnlyList<int>? onlyNodes = null) => new GatewayWorkloadClient(new RaftKvClient(new RaftKvClientOptions
    {
        Endpoints = [.. cluster.Nodes.Where(n => onlyNodes is null || onlyNodes.Contains(n.Id)).Select(n => n.ClientAddress)],
        SharedHttpHandler = _handler,
        MaxAttempts = onlyNodes is null ? 4 : 1,
        AttemptTimeoutMs = 1_000,
        InitialBackoffMs = 50,
        MaxBackoffMs = 250,
    }));
}
