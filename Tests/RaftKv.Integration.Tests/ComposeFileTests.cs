using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Orleans.Runtime;
using RaftKv.Chaos.Cluster;
using RaftKv.Client;
using RaftKv.Grains.Membership;
using RaftKv.Silo;

namespace RaftKv.Integration.Tests;

/// <summary>
/// docker/compose.yaml cannot be run here (no Docker engine), so this proves its configuration another way: the same
/// three silos, started as processes with exactly each service's environment (the file's own, plus the Dockerfile's
/// ENV lines), each in its own network namespace holding the service's fixed address (172.28.0.x) and the same ports,
/// as containers would. They must form one Raft cluster and one Orleans cluster (Raft-backed membership table), serve
/// a write that every member reads back, and pass the file's own healthcheck command.
/// </summary>
/// <remarks>
/// Needs root and iproute2 (network namespaces), like the chaos tests. Only two settings differ from a container: the
/// data directory (a temporary folder per silo instead of the volume at /var/lib/raftkv) and
/// RaftKv__ParentProcessId, so that no silo outlives the test.
/// </remarks>
[Collection("silo processes")]
public sealed partial class ComposeFileTests
{
    [Fact]
    public async Task The_compose_files_three_silos_form_a_cluster_serve_a_write_and_pass_its_healthcheck()
    {
        string root = RepositoryRoot();
        ComposeFile compose = ComposeFile.Parse(await File.ReadAllTextAsync(Path.Combine(root, "docker", "compose.yaml")));
        Dictionary<string, string> imageEnvironment = DockerfileEnvironment(await File.ReadAllTextAsync(Path.Combine(root, "docker", "Dockerfile")));
        Assert.Equal(["silo1", "silo2", "silo3"], compose.Services.Select(s => s.Name));
        Assert.Equal("/var/lib/raftkv", imageEnvironment["RaftKv__DataDirectory"]);
        Assert.NotEmpty(compose.HealthCheck);
        // The gateway routes by the port a request names (Host), so each client and Orleans gateway port is published
        // at its own number: through a mapping such as 7102:7101 every call would get 404 (gRPC UNIMPLEMENTED).
        foreach ((ComposeService service, int i) in compose.Services.Select((s, i) => (s, i)))
        {
            int clientPort = new Uri(service.Environment[$"RaftKv__Members__{i}__ClientAddress"]).Port;
            Assert.Contains($"{clientPort}:{clientPort}", service.Ports);
            Assert.Contains($"{service.Environment["RaftKv__Orleans__GatewayPort"]}:{service.Environment["RaftKv__Orleans__GatewayPort"]}", service.Ports);
        }

        string? unsupported = ComposeNetwork.Unsupported();
        Assert.True(unsupported is null, $"this test needs network namespaces (root and iproute2): {unsupported}");

        using var machineLock = await ComposeNetwork.LockAsync(TimeSpan.FromMinutes(10));
        using var network = ComposeNetwork.Create(compose.Services.Select(s => s.Address).ToList());
        string work = Directory.CreateTempSubdirectory("raftkv-compose-").FullName;
        var silos = new List<(ComposeService Service, Process Process, StringBuilder Log, Dictionary<string, string> Environment)>();
        try
        {
            string siloDll = typeof(SiloHost).Assembly.Location;
            foreach ((ComposeService service, int i) in compose.Services.Select((s, i) => (s, i)))
            {
                var environment = new Dictionary<string, string>(imageEnvironment);
                foreach ((string key, string value) in service.Environment) environment[key] = value;
                environment["RaftKv__DataDirectory"] = Path.Combine(work, service.Name); // the volume
                environment["RaftKv__ParentProcessId"] = $"{Environment.ProcessId}";
                var log = new StringBuilder();
                silos.Add((service, Start(network.ExecPrefix(i), ["dotnet", Path.GetFileName(siloDll)], Path.GetDirectoryName(siloDll)!, environment, log), log, environment));
            }

            string[] gateways = [.. compose.Services.Select(s => s.Environment.Single(e => e.Key == $"RaftKv__Members__{compose.Services.IndexOf(s)}__ClientAddress").Value)];
            Assert.Equal(compose.Services.Select(s => $"http://{s.Address}:"), gateways.Select(g => g[..(g.LastIndexOf(':') + 1)]));
            await using var client = new RaftKvClient(new RaftKvClientOptions { Endpoints = gateways, MaxAttempts = 60, AttemptTimeoutMs = 2_000, MaxBackoffMs = 500 });
            var waited = Stopwatch.StartNew();
            PutResult put = await client.PutAsync("compose/greeting", "hello from compose").WaitAsync(TimeSpan.FromSeconds(120));
            Assert.True(put.ModRevision > 0);

            // Every member serves the write (linearizable read through each gateway, so each sees the one cluster).
            foreach (string gateway in gateways)
            {
                await using var one = new RaftKvClient(new RaftKvClientOptions { Endpoints = [gateway], MaxAttempts = 20, AttemptTimeoutMs = 2_000 });
                KvItem? item = await one.GetAsync("compose/greeting");
                Assert.NotNull(item);
                Assert.Equal("hello from compose", Encoding.UTF8.GetString(item.Value));
            }

            // One Orleans cluster: the Raft-backed membership table lists the three silos Active at their advertised
            // addresses and the compose file's silo and gateway ports.
            string clusterId = compose.Services[0].Environment.GetValueOrDefault("RaftKv__Orleans__ClusterId", "raftkv");
            await using var table = new RaftKvMembershipTable(new RaftKvClusteringOptions { Endpoints = gateways }, clusterId);
            string[] expected = [.. compose.Services.Select(s => $"{s.Address}:{s.Environment["RaftKv__Orleans__SiloPort"]}/{s.Environment["RaftKv__Orleans__GatewayPort"]}").Order()];
            string[] active = [];
            while (waited.Elapsed < TimeSpan.FromSeconds(180))
            {
                MembershipTableData data = await table.ReadAll();
                active = [.. data.Members.Where(m => m.Item1.Status == SiloStatus.Active)
                    .Select(m => $"{m.Item1.SiloAddress.Endpoint.Address}:{m.Item1.SiloAddress.Endpoint.Port}/{m.Item1.ProxyPort}").Order()];
                if (active.SequenceEqual(expected)) break;
                await Task.Delay(200);
            }
            Assert.True(active.SequenceEqual(expected), $"active silos {string.Join(", ", active)}, expected {string.Join(", ", expected)}\n{Logs(silos)}");

            // The file's own healthcheck, run as Docker would run it: in the container (namespace), with its environment.
            foreach ((var silo, int i) in silos.Select((s, i) => (s, i)))
            {
                var output = new StringBuilder();
                using Process check = Start(network.ExecPrefix(i), compose.HealthCheck, Path.GetDirectoryName(siloDll)!, silo.Environment, output);
                await check.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
                Assert.True(check.ExitCode == 0, $"healthcheck of {silo.Service.Name} exited {check.ExitCode}: {output}");
                Assert.Contains("healthy: node", output.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            foreach (var silo in silos)
            {
                if (!silo.Process.HasExited) silo.Process.Kill(entireProcessTree: true);
                await silo.Process.WaitForExitAsync();
                silo.Process.Dispose();
            }
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void The_compose_parser_reads_anchors_merges_and_flow_maps()
    {
        const string text = """
            x-silo: &silo
              image: raftkv-silo
              healthcheck:
                test: ["CMD", "dotnet", "RaftKv.Silo.dll", "health"]
              environment: &members
                A: "1"
                B: http://10.0.0.1:7201
            services:
              one:
                <<: *silo
                environment: { <<: *members, C: "3", B: overridden }
                networks: { net: { ipv4_address: 10.0.0.11 } }
                ports: ["7101:7101", "30000:30000"]
            """;
        ComposeFile parsed = ComposeFile.Parse(text);
        ComposeService one = Assert.Single(parsed.Services);
        Assert.Equal("one", one.Name);
        Assert.Equal("10.0.0.11", one.Address);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "overridden", ["C"] = "3" }, one.Environment);
        Assert.Equal(["dotnet", "RaftKv.Silo.dll", "health"], parsed.HealthCheck);
        Assert.Equal(["7101:7101", "30000:30000"], one.Ports);
    }

    private static Process Start(IReadOnlyList<string> prefix, IReadOnlyList<string> command, string workingDirectory, Dictionary<string, string> environment, StringBuilder log)
    {
        var start = new ProcessStartInfo(prefix[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (string arg in prefix.Skip(1).Concat(command)) start.ArgumentList.Add(arg);
        // The container's environment is the image's and the service's, not this test process's RaftKv settings.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("RaftKv", StringComparison.OrdinalIgnoreCase)).ToList()) start.Environment.Remove(key);
        foreach ((string key, string value) in environment) start.Environment[key] = value;
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {string.Join(" ", command)}");
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static string Logs(IEnumerable<(ComposeService Service, Process Process, StringBuilder Log, Dictionary<string, string> Environment)> silos) =>
        string.Join("\n", silos.Select(s =>
        {
            string text;
            lock (s.Log) text = s.Log.ToString();
            return $"--- {s.Service.Name}\n{(text.Length > 3000 ? text[^3000..] : text)}";
        }));

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Orleans.Raft.sln"))) return directory.FullName;
        }
        throw new InvalidOperationException("the repository root (Orleans.Raft.sln) is not above " + AppContext.BaseDirectory);
    }

    private static Dictionary<string, string> DockerfileEnvironment(string dockerfile) =>
        DockerfileEnv().Matches(dockerfile).ToDictionary(m => m.Groups["key"].Value, m => m.Groups["value"].Value);

    [GeneratedRegex(@"^ENV (?<key>[A-Za-z_][A-Za-z0-9_]*)=(?<value>\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex DockerfileEnv();

    internal sealed record ComposeService(string Name, string Address, Dictionary<string, string> Environment)
    {
        /// <summary>The service's <c>ports</c> entries ("host:container").</summary>
        public List<string> Ports { get; init; } = [];
    }

    /// <summary>
    /// The subset of YAML that docker/compose.yaml uses: one anchored block map of environment variables, services
    /// whose environment is a flow map merging that anchor, a flow-map network address, and an exec-form healthcheck.
    /// Anything else it does not understand is ignored; anything it needs and cannot find fails the test.
    /// </summary>
    internal sealed partial record ComposeFile(List<ComposeService> Services, string[] HealthCheck)
    {
        public static ComposeFile Parse(string text)
        {
            string[] lines = text.Replace("\r", "", StringComparison.Ordinal).Split('\n');
            var anchors = new Dictionary<string, Dictionary<string, string>>();
            string[] healthCheck = [];
            var services = new List<ComposeService>();
            bool inServices = false;
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i];
                if (line.TrimStart().StartsWith('#') || line.Trim().Length == 0) continue;
                int indent = line.Length - line.TrimStart().Length;
                if (AnchoredMap().Match(line) is { Success: true } anchored)
                {
                    var map = new Dictionary<string, string>();
                    while (i + 1 < lines.Length && (lines[i + 1].Trim().Length == 0 || lines[i + 1].Length - lines[i + 1].TrimStart().Length > indent))
                    {
                        if (KeyValue().Match(lines[++i]) is { Success: true } entry) map[entry.Groups["key"].Value] = Unquote(entry.Groups["value"].Value);
                    }
                    anchors[anchored.Groups["anchor"].Value] = map;
                    continue;
                }
                if (HealthCheckTest().Match(line) is { Success: true } test)
                {
                    string[] form = JsonSerializer.Deserialize<string[]>(test.Groups["array"].Value)!;
                    healthCheck = form.Length > 0 && form[0] == "CMD" ? form[1..] : throw new FormatException($"healthcheck test must be exec form [\"CMD\", ...]: {line}");
                    continue;
                }
                if (indent == 0)
                {
                    inServices = line.StartsWith("services:", StringComparison.Ordinal);
                    continue;
                }
                if (!inServices) continue;
                if (indent == 2 && line.TrimEnd().EndsWith(':'))
                {
                    services.Add(new ComposeService(line.Trim().TrimEnd(':'), "", []));
                    continue;
                }
                ComposeService current = services[^1];
                if (FlowEnvironment().Match(line) is { Success: true } flow)
                {
                    foreach (string item in flow.Groups["items"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    {
                        int colon = item.IndexOf(':', StringComparison.Ordinal);
                        string key = item[..colon].Trim(), value = item[(colon + 1)..].Trim();
                        if (key == "<<")
                        {
                            foreach ((string k, string v) in anchors[value.TrimStart('*')]) current.Environment[k] = v;
                        }
                        else
                        {
                            current.Environment[key] = Unquote(value);
                        }
                    }
                }
                else if (PortList().Match(line) is { Success: true } ports)
                {
                    current.Ports.AddRange(JsonSerializer.Deserialize<string[]>(ports.Groups["array"].Value)!);
                }
                else if (Ipv4Address().Match(line) is { Success: true } address)
                {
                    services[^1] = current with { Address = address.Groups["address"].Value };
                }
            }
            foreach (ComposeService service in services)
            {
                if (service.Address.Length == 0 || service.Environment.Count == 0) throw new FormatException($"service {service.Name} has no ipv4_address or no environment");
            }
            return new ComposeFile(services, healthCheck);
        }

        private static string Unquote(string value) => value.Length >= 2 && value[0] == '"' && value[^1] == '"' ? value[1..^1] : value;

        [GeneratedRegex(@"^\s*environment:\s*&(?<anchor>[\w-]+)\s*$")]
        private static partial Regex AnchoredMap();

        [GeneratedRegex(@"^\s*(?<key>[A-Za-z_][A-Za-z0-9_]*):\s*(?<value>.+?)\s*$")]
        private static partial Regex KeyValue();

        [GeneratedRegex(@"^\s*test:\s*(?<array>\[.*\])\s*$")]
        private static partial Regex HealthCheckTest();

        [GeneratedRegex(@"^\s*ports:\s*(?<array>\[.*\])\s*$")]
        private static partial Regex PortList();

        [GeneratedRegex(@"^\s*environment:\s*\{(?<items>.*)\}\s*$")]
        private static partial Regex FlowEnvironment();

        [GeneratedRegex(@"ipv4_address:\s*(?<address>\d+\.\d+\.\d+\.\d+)")]
        private static partial Regex Ipv4Address();
    }

    /// <summary>
    /// One network namespace per service, each with a veth into one bridge that also gives this test process an address
    /// (.254) on the compose network's /24, so the services keep their fixed addresses and identical ports.
    /// </summary>
    private sealed class ComposeNetwork : IDisposable
    {
        private readonly string _id = Guid.NewGuid().ToString("N")[..4];
        private readonly int _count;

        private ComposeNetwork(int count) => _count = count;

        private string Bridge => $"rkc{_id}";

        private string Namespace(int i) => $"rkc-{_id}-{i}";

        private string HostLink(int i) => $"rkc{_id}h{i}";

        public IReadOnlyList<string> ExecPrefix(int i) => [Shell.Which("ip")!, "netns", "exec", Namespace(i)];

        public static string? Unsupported()
        {
            if (!OperatingSystem.IsLinux()) return "not Linux";
            if (Shell.Run("id", "-u").Output.Trim() != "0") return "not root";
            return Shell.Which("ip") is null ? "ip (iproute2) is not installed" : null;
        }

        /// <summary>The compose subnet is fixed, so two runs on one machine must take turns.</summary>
        public static async Task<IDisposable> LockAsync(TimeSpan timeout)
        {
            var waited = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    return new FileStream(Path.Combine(Path.GetTempPath(), "raftkv-compose-test.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
                }
                catch (IOException) when (waited.Elapsed < timeout)
                {
                    await Task.Delay(500);
                }
            }
        }

        public static ComposeNetwork Create(IReadOnlyList<string> addresses)
        {
            string subnet = addresses[0][..addresses[0].LastIndexOf('.')];
            Assert.All(addresses, a => Assert.StartsWith(subnet + ".", a, StringComparison.Ordinal));
            string routed = Shell.Run("ip", "-4", "route", "show", $"{subnet}.0/24").Output.Trim();
            Assert.True(routed.Length == 0, $"{subnet}.0/24 is already routed on this machine ({routed}); the compose network cannot be reproduced here");
            var network = new ComposeNetwork(addresses.Count);
            try
            {
                Shell.Check("ip", "link", "add", network.Bridge, "type", "bridge");
                Shell.Check("ip", "addr", "add", $"{subnet}.254/24", "dev", network.Bridge);
                Shell.Check("ip", "link", "set", network.Bridge, "up");
                for (int i = 0; i < addresses.Count; i++)
                {
                    Shell.Check("ip", "netns", "add", network.Namespace(i));
                    Shell.Check("ip", "link", "add", network.HostLink(i), "type", "veth", "peer", "name", "eth0", "netns", network.Namespace(i));
                    Shell.Check("ip", "link", "set", network.HostLink(i), "master", network.Bridge, "up");
                    Shell.Check("ip", "-n", network.Namespace(i), "addr", "add", $"{addresses[i]}/24", "dev", "eth0");
                    Shell.Check("ip", "-n", network.Namespace(i), "link", "set", "eth0", "up");
                    Shell.Check("ip", "-n", network.Namespace(i), "link", "set", "lo", "up");
                }
                return network;
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            for (int i = 0; i < _count; i++)
            {
                Shell.Run("ip", "link", "del", HostLink(i));
                Shell.Run("ip", "netns", "del", Namespace(i));
            }
            Shell.Run("ip", "link", "del", Bridge);
        }
    }
}
