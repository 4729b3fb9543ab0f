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
using Orleans.Connections.Security;
using RaftKv.Client.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

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
    private readonly Func<ulong, IEnumerable<string>> _nodeArguments;
    private readonly (int First, int Last)? _portRange;

    /// <param name="nodes">How many silos.</param>
    /// <param name="extraArguments">More configuration for every silo, e.g. "--RaftKv:ElectionTimeoutMs=500".</param>
    /// <param name="portRange">Where to pick the silos' ports (first inclusive, last exclusive); 20000-32000 by default.</param>
    /// <param name="nodeArguments">More configuration for one silo (by node id), after <paramref name="extraArguments"/>.</param>
    /// <param name="start">False to start no silo yet (e.g. to seed the data directories first); call <see cref="Start"/> for each.</param>
    /// <param name="tls">
    /// Run the cluster with TLS (docs/security.md): a development CA under the cluster's folder, https:// addresses,
    /// mutual TLS between nodes, Orleans TLS, and client authentication by the "admin" client certificate or
    /// <see cref="ClientToken"/>. The harness's own calls present the admin certificate.
    /// </param>
    public SiloProcessCluster(int nodes = 3, IReadOnlyList<string>? extraArguments = null, (int First, int Last)? portRange = null,
        Func<ulong, IEnumerable<string>>? nodeArguments = null, bool tls = false, bool start = true)
    {
        _extraArguments = extraArguments ?? ["--RaftKv:SnapshotThresholdBytes=1048576"];
        _nodeArguments = nodeArguments ?? (_ => []);
        _portRange = portRange;
        int[] ports = LoopbackPorts.Free(5 * nodes, portRange);
        string scheme = tls ? "https" : "http";
        _members = [.. Enumerable.Range(0, nodes).Select(i => new NodeMember
        {
            Id = (ulong)(i + 1),
            ClientAddress = $"{scheme}://127.0.0.1:{ports[i]}",
            PeerAddress = $"{scheme}://127.0.0.1:{ports[nodes + i]}",
            HttpAddress = $"http://127.0.0.1:{ports[4 * nodes + i]}",
        })];
        if (tls)
        {
            CertificateDirectory = Path.Combine(_root, "certs");
            // One node certificate more than members: a CA-signed certificate for a node that is not a member.
            DevelopmentCertificates.CreateDirectory(CertificateDirectory, nodes + 1, ["127.0.0.1", "localhost"], ["admin"], TimeSpan.FromDays(1));
            ClientToken = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            File.WriteAllText(TokensFile, "# test tokens\n" + ClientToken + "\n");
            Authorities = RaftKvCertificates.LoadAuthorities(DevelopmentCertificates.CaFile(CertificateDirectory));
            AdminCertificate = RaftKvCertificates.LoadCertificate(DevelopmentCertificates.ClientCertificateFile(CertificateDirectory, "admin"),
                DevelopmentCertificates.ClientKeyFile(CertificateDirectory, "admin"));
        }
        // Orleans: silo ports then gateway ports; development clustering with node 1's silo as the primary.
        _orleans = Members.ToDictionary(m => m.Id, m => LocalCluster.OrleansOptionsFor(m.Id, 0, 0) with
        {
            SiloPort = ports[2 * nodes + (int)m.Id - 1],
            GatewayPort = ports[3 * nodes + (int)m.Id - 1],
            PrimarySiloEndpoint = $"127.0.0.1:{ports[2 * nodes]}",
        });
        _initialMembers = [.. _members];
        if (start)
        {
            foreach (NodeMember member in Members) Start(member.Id);
        }
    }

    /// <summary>Where node <paramref name="id"/> keeps its data (RaftKv:DataDirectory).</summary>
    public string DataDirectory(ulong id) => Path.Combine(_root, $"node{id}");

    private readonly List<NodeMember> _members;
    private readonly IReadOnlyList<NodeMember> _initialMembers;
    private readonly Dictionary<ulong, string> _joinThrough = [];

    /// <summary>Every node this cluster started: the initial members, then nodes added with <see cref="StartJoiningNode"/>.</summary>
    public IReadOnlyList<NodeMember> Members => _members;

    /// <summary>
    /// Starts a new silo (the next node id, fresh ports and data directory) with <c>RaftKv:Join</c> naming node
    /// <paramref name="joinThrough"/>'s client address: it asks the cluster to add it as a learner and catches up.
    /// </summary>
    public NodeMember StartJoiningNode(ulong joinThrough = 1)
    {
        int[] ports = LoopbackPorts.Free(5, _portRange);
        var member = new NodeMember
        {
            Id = _members.Max(m => m.Id) + 1,
            ClientAddress = $"http://127.0.0.1:{ports[0]}",
            PeerAddress = $"http://127.0.0.1:{ports[1]}",
            HttpAddress = $"http://127.0.0.1:{ports[4]}",
        };
        _orleans[member.Id] = _orleans[_initialMembers[0].Id] with { SiloPort = ports[2], GatewayPort = ports[3] };
        _members.Add(member);
        _joinThrough[member.Id] = ClientAddress(joinThrough);
        Start(member.Id);
        return member;
    }

    /// <summary>With TLS: where the CA (ca.pem), node (nodeN.pem, nodeN-key.pem) and admin client certificates are.</summary>
    public string? CertificateDirectory { get; }

    public bool Tls => CertificateDirectory is not null;

    /// <summary>With TLS: a bearer token the silos accept (from <see cref="TokensFile"/>).</summary>
    public string? ClientToken { get; }

    public string TokensFile => Path.Combine(CertificateDirectory ?? _root, "client-tokens");

    /// <summary>With TLS: the cluster CA.</summary>
    public X509Certificate2Collection? Authorities { get; }

    /// <summary>With TLS: the "admin" client certificate the harness presents.</summary>
    public X509Certificate2? AdminCertificate { get; }

    /// <summary>
    /// Options of a client of this cluster: every node (or only <paramref name="only"/>) and, with TLS, the cluster CA
    /// and the admin client certificate (remove it to test other credentials).
    /// </summary>
    public RaftKvClientOptions ClientOptions(params ulong[] only) => new()
    {
        Endpoints = [.. Members.Where(m => only.Length == 0 || only.Contains(m.Id)).Select(m => m.ClientAddress)],
        MaxAttempts = 40,
        AttemptTimeoutMs = 2_000,
        MaxBackoffMs = 500,
        TrustedCertificateAuthorities = Authorities,
        ClientCertificate = AdminCertificate,
    };

    /// <summary>A channel to <paramref name="address"/> that the harness uses (with TLS: the CA and the admin certificate).</summary>
    public GrpcChannel HarnessChannel(string address) => Tls
        ? GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = ClientOptions().CreateHttpHandler(), DisposeHttpClient = true })
        : GrpcChannel.ForAddress(address);

    private readonly Dictionary<ulong, OrleansSiloOptions> _orleans;

    /// <summary>The Orleans gateway endpoints (host:port) of every silo, for an Orleans client.</summary>
    public IEnumerable<IPEndPoint> OrleansGateways => _orleans.Values.Select(o => new IPEndPoint(IPAddress.Loopback, o.GatewayPort));

    /// <summary>The Orleans silo-to-silo endpoints of every silo.</summary>
    public IEnumerable<IPEndPoint> OrleansSiloEndpoints => _orleans.Values.Select(o => new IPEndPoint(IPAddress.Loopback, o.SiloPort));

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
            builder.UseOrleansClient(client =>
            {
                client
                    .UseStaticClustering([.. OrleansGateways])
                    .Configure<ClusterOptions>(cluster => (cluster.ClusterId, cluster.ServiceId) = (first.ClusterId, first.ServiceId));
                if (Tls)
                {
                    client.UseTls(AdminCertificate!, tls =>
                    {
                        X509Certificate2Collection authorities = Authorities!;
                        tls.RemoteCertificateValidation = (certificate, _, _) => certificate is not null && RaftKvCertificates.ChainsTo(certificate, authorities, out _);
                    });
                }
            });
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

    /// <summary>The node's HTTP/1.1 monitoring address (/metrics, /healthz, /readyz).</summary>
    public string HttpAddress(ulong id) => Members.Single(m => m.Id == id).HttpAddress;

    public RaftKvClient NewClient(params ulong[] only) => NewClient(null, only);

    /// <summary>A client (one session) talking to every node, or only to <paramref name="only"/>; many clients may share <paramref name="handler"/>.</summary>
    public RaftKvClient NewClient(HttpMessageHandler? handler, params ulong[] only)
    {
        RaftKvClientOptions options = ClientOptions(only);
        options.SharedHttpHandler = handler;
        if (handler is not null)
        {
            // A shared handler carries its own TLS settings (ClientOptions().CreateHttpHandler()).
            options.TrustedCertificateAuthorities = null;
            options.ClientCertificate = null;
        }
        return new RaftKvClient(options);
    }

    public void Start(ulong id)
    {
        NodeMember self = Members.Single(m => m.Id == id);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(SiloHost).Assembly.Location);
        bool joining = _joinThrough.TryGetValue(id, out string? joinThrough);
        IReadOnlyList<NodeMember> members = joining ? [self] : _initialMembers;
        foreach (string arg in LocalCluster.SiloArguments(self, members, DataDirectory(id), _orleans[id])) start.ArgumentList.Add(arg);
        if (joining) start.ArgumentList.Add($"--RaftKv:Join={joinThrough}");
        if (CertificateDirectory is not null)
        {
            foreach (string arg in LocalCluster.TlsArguments(CertificateDirectory, id, TokensFile)) start.ArgumentList.Add(arg);
        }
        start.ArgumentList.Add("--RaftKv:EnableTestFaults=true");
        start.ArgumentList.Add("--Logging:LogLevel:Microsoft.AspNetCore=Warning");
        foreach (string arg in _extraArguments) start.ArgumentList.Add(arg);
        foreach (string arg in _nodeArguments(id)) start.ArgumentList.Add(arg);
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

    /// <summary>The process of silo <paramref name="id"/> as last started (it may have exited by itself since), or null.</summary>
    public Process? ProcessOf(ulong id) => _processes.GetValueOrDefault(id);

    /// <summary>Sends a signal by name ("STOP", "CONT", ...) to silo <paramref name="id"/>'s process.</summary>
    public void Signal(ulong id, string signal)
    {
        Process process = _processes[id] ?? throw new InvalidOperationException($"silo {id} is not running");
        using var kill = Process.Start("kill", [$"-{signal}", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {process.Id} failed with exit code {kill.ExitCode}");
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

    /// <summary>Waits until the silo logs that it has fully started (Orleans active, every endpoint serving).</summary>
    public Task WaitForSiloStartedAsync(ulong id, TimeSpan timeout) =>
        WaitUntilAsync(() => Task.FromResult(Log(id).Contains("silo started", StringComparison.Ordinal)), timeout, $"silo {id} fully started");

    public async Task HangOnStopAsync(ulong id)
    {
        using GrpcChannel channel = HarnessChannel(ClientAddress(id));
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
            using GrpcChannel channel = HarnessChannel(ClientAddress(id));
            return await new KV.KVClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Waits until a leader is known to every live node (or every live node of <paramref name="among"/>), and returns it.</summary>
    public async Task<ulong> WaitForLeaderAsync(TimeSpan timeout, ulong? not = null, IReadOnlyCollection<ulong>? among = null)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var statuses = new List<StatusResponse>();
            ulong[] live = [.. _processes.Where(p => p.Value is not null && (among is null || among.Contains(p.Key))).Select(p => p.Key)];
            foreach (ulong id in live)
            {
                if (await TryStatusAsync(id) is { } status) statuses.Add(status);
            }
            ulong leader = statuses.FirstOrDefault(s => s.Role == Role.Leader)?.NodeId ?? 0;
            if (leader != 0 && leader != not && statuses.Count == live.Length && statuses.All(s => s.LeaderId == leader))
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
        using GrpcChannel channel = HarnessChannel(ClientAddress(id));
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
