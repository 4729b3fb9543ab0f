using RaftKv.Node;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using RaftKv.Client;
using RaftKv.Client.Protos;
using Grpc.Core;
using Grpc.Net.Client;
using RaftKv.Silo;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace RaftKv.TestingHost;

/// <summary>
/// A cluster of real silo processes on loopback, each with its own data directory under a temporary folder. Nodes
/// can be killed with SIGKILL, restarted from their data directory, and isolated from their peers (test faults).
/// Waits are conditions with deadlines, never fixed sleeps.
/// </summary>
public sealed class SiloProcessCluster : IAsyncDisposable
{
    private readonly Dictionary<ulong, Process?> _processes = [];
    private readonly Dictionary<ulong, StringBuilder> _logs = [];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "raftkv-it-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>How often a wait re-checks its condition; every wait also has a deadline.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly IReadOnlyList<string> _extraArguments;

    /// <param name="nodes">How many silos.</param>
    /// <param name="extraArguments">More configuration for every silo, e.g. "--RaftKv:ElectionTimeoutMs=500".</param>
    /// <param name="portRange">Where to pick the silos' ports (first inclusive, last exclusive); 20000-32000 by default.</param>
    /// <param name="start">False to start no silo yet (e.g. to seed the data directories first); call <see cref="Start"/> for each.</param>
    public SiloProcessCluster(int nodes = 3, IReadOnlyList<string>? extraArguments = null, (int First, int Last)? portRange = null, bool start = true)
    {
        _extraArguments = extraArguments ?? ["--RaftKv:SnapshotThresholdBytes=1048576"];
        int[] ports = LoopbackPorts.Free(4 * nodes, portRange);
        Members = [.. Enumerable.Range(0, nodes).Select(i => new NodeMember
        {
            Id = (ulong)(i + 1),
            ClientAddress = $"http://127.0.0.1:{ports[i]}",
            PeerAddress = $"http://127.0.0.1:{ports[nodes + i]}",
        })];
        // Orleans: silo ports then gateway ports; development clustering with node 1's silo as the primary.
        _orleans = Members.ToDictionary(m => m.Id, m => LocalCluster.OrleansOptionsFor(m.Id, 0, 0) with
        {
            SiloPort = ports[2 * nodes + (int)m.Id - 1],
            GatewayPort = ports[3 * nodes + (int)m.Id - 1],
            PrimarySiloEndpoint = $"127.0.0.1:{ports[2 * nodes]}",
        });
        if (start)
        {
            foreach (NodeMember member in Members) Start(member.Id);
        }
    }

    /// <summary>Where node <paramref name="id"/> keeps its data (RaftKv:DataDirectory).</summary>
    public string DataDirectory(ulong id) => Path.Combine(_root, $"node{id}");

    public IReadOnlyList<NodeMember> Members { get; }

    private readonly Dictionary<ulong, OrleansSiloOptions> _orleans;

    /// <summary>The Orleans gateway endpoints (host:port) of every silo, for an Orleans client.</summary>
    public IEnumerable<IPEndPoint> OrleansGateways => _orleans.Values.Select(o => new IPEndPoint(IPAddress.Loopback, o.GatewayPort));

    public IEnumerable<string> ClientAddresses => Members.Select(m => m.ClientAddress);

    /// <summary>
    /// Starts an Orleans client connected to every silo's gateway (static clustering), retrying until the silos'
    /// gateways accept it or <paramref name="timeout"/> passes. Dispose the returned host to disconnect.
    /// </summary>
    public async Task<IHost> StartOrleansClientAsync(TimeSpan timeout)
    {
        var elapsed = Stopwatch.StartNew();
        OrleansSiloOptions first = _orleans.Values.First();
        while (true)
        {
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.UseOrleansClient(client => client
                .UseStaticClustering([.. OrleansGateways])
                .Configure<ClusterOptions>(cluster => (cluster.ClusterId, cluster.ServiceId) = (first.ClusterId, first.ServiceId)));
            IHost host = builder.Build();
            try
            {
                await host.StartAsync();
                return host;
            }
            catch (Exception e) when (e is OrleansException or SocketException or TimeoutException && elapsed.Elapsed < timeout)
            {
                host.Dispose();
                await Task.Delay(PollInterval);
            }
        }
    }

    public string ClientAddress(ulong id) => Members.Single(m => m.Id == id).ClientAddress;

    public RaftKvClient NewClient(params ulong[] only) => NewClient(null, only);

    /// <summary>A client (one session) talking to every node, or only to <paramref name="only"/>; many clients may share <paramref name="handler"/>.</summary>
    public RaftKvClient NewClient(HttpMessageHandler? handler, params ulong[] only) => new(new RaftKvClientOptions
    {
        SharedHttpHandler = handler,
        Endpoints = [.. Members.Where(m => only.Length == 0 || only.Contains(m.Id)).Select(m => m.ClientAddress)],
        MaxAttempts = 40,
        AttemptTimeoutMs = 2_000,
        MaxBackoffMs = 500,
    });

    public void Start(ulong id)
    {
        NodeMember self = Members.Single(m => m.Id == id);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(SiloHost).Assembly.Location);
        foreach (string arg in LocalCluster.SiloArguments(self, Members, DataDirectory(id), _orleans[id])) start.ArgumentList.Add(arg);
        start.ArgumentList.Add("--RaftKv:EnableTestFaults=true");
        start.ArgumentList.Add("--Logging:LogLevel:Microsoft.AspNetCore=Warning");
        foreach (string arg in _extraArguments) start.ArgumentList.Add(arg);
        var log = _logs.TryGetValue(id, out StringBuilder? existing) ? existing : _logs[id] = new StringBuilder();
        Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start a silo");
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes[id] = process;
    }

    /// <summary>kill -9: the process gets no chance to flush or checkpoint anything.</summary>
    public bool IsRunning(ulong id) => _processes.GetValueOrDefault(id) is not null;

    /// <summary>The operating-system process id of a running silo (for CPU accounting), or null.</summary>
    public int? ProcessId(ulong id) => _processes.GetValueOrDefault(id)?.Id;

    public void Kill(ulong id)
    {
        Process? process = _processes[id];
        if (process is null) return;
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        _processes[id] = null;
    }

    /// <summary>SIGTERM, as a service manager stops a silo; returns the process to wait on (null if it was not running).</summary>
    public Process? Terminate(ulong id)
    {
        Process? process = _processes[id];
        if (process is null) return null;
        using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        _processes[id] = null;
        return process;
    }

    public async Task HangOnStopAsync(ulong id)
    {
        using var channel = GrpcChannel.ForAddress(ClientAddress(id));
        await new RaftKv.Silo.Protos.Faults.FaultsClient(channel).HangOnStopAsync(new Google.Protobuf.WellKnownTypes.Empty());
    }

    public string Log(ulong id)
    {
        StringBuilder log = _logs[id];
        lock (log) return log.ToString();
    }

    public async Task<StatusResponse?> TryStatusAsync(ulong id)
    {
        try
        {
            using var channel = GrpcChannel.ForAddress(ClientAddress(id));
            return await new KV.KVClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Waits until a leader is known to every live node, and returns it.</summary>
    public async Task<ulong> WaitForLeaderAsync(TimeSpan timeout, ulong? not = null)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var statuses = new List<StatusResponse>();
            foreach (ulong id in _processes.Where(p => p.Value is not null).Select(p => p.Key))
            {
                if (await TryStatusAsync(id) is { } status) statuses.Add(status);
            }
            ulong leader = statuses.FirstOrDefault(s => s.Role == Role.Leader)?.NodeId ?? 0;
            if (leader != 0 && leader != not && statuses.Count == _processes.Count(p => p.Value is not null) && statuses.All(s => s.LeaderId == leader))
            {
                return leader;
            }
            await Task.Delay(PollInterval);
        }
        throw new TimeoutException($"no leader within {timeout}; logs:\n{string.Join("\n", _logs.Keys.Select(id => $"--- node {id}\n{Tail(Log(id))}"))}");
    }

    public async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (await condition()) return;
            await Task.Delay(PollInterval);
        }
        throw new TimeoutException($"{what} did not happen within {timeout}");
    }

    public async Task IsolateAsync(ulong id, bool isolated)
    {
        using var channel = GrpcChannel.ForAddress(ClientAddress(id));
        await new RaftKv.Silo.Protos.Faults.FaultsClient(channel).IsolateAsync(new Google.Protobuf.WellKnownTypes.BoolValue { Value = isolated });
    }

    public ValueTask DisposeAsync()
    {
        foreach (ulong id in _processes.Keys.ToArray()) Kill(id);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }

    private static string Tail(string text) => text.Length > 3000 ? text[^3000..] : text;
}
