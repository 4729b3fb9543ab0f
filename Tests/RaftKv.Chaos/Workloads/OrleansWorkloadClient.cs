using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using RaftKv.Chaos.Cluster;
using RaftKv.Grains;

namespace RaftKv.Chaos.Workloads;

/// <summary>
/// The second client kind: KV grains called from an Orleans client. Reads go to <see cref="IKvGrain"/> (linearizable);
/// every write goes through this client's own <see cref="RaftKvSession"/> (opened lazily, one per logical client), so
/// the session's retries keep their sequence number and a write is applied at most once.
/// </summary>
public sealed class OrleansWorkloadClient(IClusterClient orleans) : IKvWorkloadClient
{
    private static readonly RaftKvSessionOptions SessionOptions = new() { MaxAttempts = 10, InitialBackoffMs = 50, MaxBackoffMs = 250 };

    private RaftKvSession? _session;

    public async Task<string?> GetAsync(string key, CancellationToken cancellationToken)
    {
        KvItem? item = await orleans.GetGrain<IKvGrain>(key).GetAsync(ReadConsistency.Linearizable).WaitAsync(cancellationToken).ConfigureAwait(false);
        return item is null ? null : Encoding.UTF8.GetString(item.Value);
    }

    public async Task PutAsync(string key, string value, CancellationToken cancellationToken)
    {
        await WriteAsync(s => s.PutAsync(key, value, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        KvWriteResult result = await WriteAsync(s => s.DeleteAsync(key, cancellationToken), cancellationToken).ConfigureAwait(false);
        return result.Status == KvWriteStatus.Ok;
    }

    public async Task<(bool Succeeded, string? Current)> CompareAndSwapAsync(string key, string? expected, string value, CancellationToken cancellationToken)
    {
        byte[] newValue = Encoding.UTF8.GetBytes(value);
        KvWriteResult result = await WriteAsync(s => expected is null
            ? s.CompareRevisionAndSwapAsync(key, 0, newValue, cancellationToken)
            : s.CompareAndSwapAsync(key, Encoding.UTF8.GetBytes(expected), newValue, cancellationToken), cancellationToken).ConfigureAwait(false);
        return (result.Succeeded, result.CurrentValue is null ? null : Encoding.UTF8.GetString(result.CurrentValue));
    }

    /// <summary>
    /// Not applied for sure: the session could not be opened (no write was sent) or the request was invalid. Timeouts,
    /// lost connections, Unavailable/NotLeader after the session's retries (an earlier attempt may have been proposed),
    /// and even "session expired" (an earlier attempt of the same sequence may have been proposed before the session
    /// expired) are unknown.
    /// </summary>
    public bool IsDefinitelyNotApplied(Exception error) => error is SessionNotOpenedException or RaftKvInvalidArgumentException;

    private async Task<RaftKvSession> SessionAsync(CancellationToken cancellationToken)
    {
        if (_session is not null) return _session;
        try
        {
            _session = await orleans.OpenRaftKvSessionAsync(SessionOptions, cancellationToken).ConfigureAwait(false);
            return _session;
        }
        catch (Exception e)
        {
            throw new SessionNotOpenedException(e);
        }
    }

    /// <summary>Runs a write through the session; an expired (or otherwise unusable) session is replaced on the next write.</summary>
    private async Task<KvWriteResult> WriteAsync(Func<RaftKvSession, Task<KvWriteResult>> write, CancellationToken cancellationToken)
    {
        RaftKvSession session = await SessionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await write(session).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RaftKvSessionExpiredException or RaftKvStaleSequenceException)
        {
            _session = null;
            session.Dispose();
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
        _session?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The write was never sent: no session could be registered.</summary>
    public sealed class SessionNotOpenedException(Exception inner) : Exception("could not open a RaftKv session: " + inner.Message, inner);
}

/// <summary>One Orleans client (static clustering on every silo's gateway) shared by every workload client of this kind.</summary>
public sealed class OrleansClientFactory : IKvClientFactory, IAsyncDisposable
{
    /// <summary>How long the Orleans client waits for a grain call's response before it throws a TimeoutException.</summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(3);

    private readonly IHost _host;

    private OrleansClientFactory(IHost host) => _host = host;

    public string Name => "orleans";

    public static IPEndPoint GatewayEndpoint(ChaosNode node) =>
        new(IPAddress.Parse(node.Address), new Uri(node.PeerAddress).Port + 200);

    public static async Task<OrleansClientFactory> StartAsync(ChaosCluster cluster, CancellationToken cancellationToken)
    {
        IPEndPoint[] gateways = [.. cluster.Nodes.Select(GatewayEndpoint)];
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client => client
            .UseStaticClustering(gateways)
            .Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = ("raftkv", "raftkv"))
            .Configure<ClientMessagingOptions>(o => o.ResponseTimeout = ResponseTimeout)
            .Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5)));
        IHost host = builder.Build();
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        return new OrleansClientFactory(host);
    }

    /// <summary>Grain placement decides the silo, so a client cannot be pinned to one node: pinned readers use gRPC.</summary>
    public IKvWorkloadClient Create(IReadOnlyList<int>? onlyNodes = null)
    {
        if (onlyNodes is not null) throw new NotSupportedException("an Orleans client cannot be pinned to one node");
        return new OrleansWorkloadClient(_host.Services.GetRequiredService<IClusterClient>());
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _host.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
        }
        _host.Dispose();
    }
}
