using RaftKv.Node;
using System.Diagnostics;

namespace RaftKv.Silo;

/// <summary>
/// Starts a local cluster of silo processes (3 by default) on loopback, each with its own data directory, prefixes
/// their logs with the node id, and stops them all on Ctrl+C.
/// </summary>
public static class LocalCluster
{
    public static async Task<int> RunAsync(string[] args)
    {
        int nodes = 3;
        string dataDirectory = Path.GetFullPath(".raftkv");
        int clientPortBase = 7101, peerPortBase = 7201, httpPortBase = 7301, siloPortBase = 11111, gatewayPortBase = 30000;
        SiloClustering clustering = SiloClustering.RaftKv;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--nodes" when int.TryParse(value, out int n) && n is >= 1 and <= 9: nodes = n; i++; break;
                case "--data-dir" when value.Length > 0: dataDirectory = Path.GetFullPath(value); i++; break;
                case "--client-port" when int.TryParse(value, out int c): clientPortBase = c; i++; break;
                case "--peer-port" when int.TryParse(value, out int p): peerPortBase = p; i++; break;
                case "--http-port" when int.TryParse(value, out int h): httpPortBase = h; i++; break;
                case "--silo-port" when int.TryParse(value, out int s): siloPortBase = s; i++; break;
                case "--gateway-port" when int.TryParse(value, out int g): gatewayPortBase = g; i++; break;
                case "--clustering" when Enum.TryParse(value, ignoreCase: true, out SiloClustering c) && Enum.IsDefined(c): clustering = c; i++; break;
                default:
                    await Console.Error.WriteLineAsync($"unknown or invalid argument '{args[i]}'\nusage: local-cluster [--nodes 3] [--data-dir .raftkv] [--client-port 7101] [--peer-port 7201] [--http-port 7301] [--silo-port 11111] [--gateway-port 30000] [--clustering raftkv|development]");
                    return 2;
            }
        }

        var members = Enumerable.Range(1, nodes).Select(id => new NodeMember
        {
            Id = (ulong)id,
            ClientAddress = $"http://127.0.0.1:{clientPortBase + id - 1}",
            PeerAddress = $"http://127.0.0.1:{peerPortBase + id - 1}",
            HttpAddress = $"http://127.0.0.1:{httpPortBase + id - 1}",
        }).ToArray();
        string endpoints = string.Join(",", members.Select(m => m.ClientAddress));
        var orleans = members.ToDictionary(m => m.Id, m => OrleansOptionsFor(m.Id, siloPortBase, gatewayPortBase, clustering));
        string gateways = string.Join(",", orleans.Values.Select(o => $"127.0.0.1:{o.GatewayPort}"));
        Console.WriteLine($"RaftKv local cluster: {nodes} nodes, data under {dataDirectory}");
        Console.WriteLine($"  client endpoints: {endpoints}");
        Console.WriteLine($"  Orleans gateways: {gateways} ({clustering} clustering)");
        Console.WriteLine($"  monitoring (/metrics, /healthz, /readyz): {string.Join(",", members.Select(m => m.HttpAddress))}");
        Console.WriteLine($"  try: dotnet run --project Client/RaftKv.Cli -- --endpoints {endpoints} status --all");
        Console.WriteLine($"  or:  dotnet run --project samples/RaftKv.Samples.OrleansClient -- {gateways}");
        Console.WriteLine("  Ctrl+C stops the cluster.");

        var processes = members.Select(m => Start(m, members, Path.Combine(dataDirectory, $"node{m.Id}"), orleans[m.Id])).ToArray();
        using var stopping = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stopping.Cancel(); };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAll(processes);
        using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stopping.Cancel();
        });
        try
        {
            await Task.WhenAny(Task.WhenAll(processes.Select(p => p.WaitForExitAsync())), Task.Delay(Timeout.Infinite, stopping.Token));
        }
        catch (OperationCanceledException)
        {
        }
        StopAll(processes);
        return 0;
    }

    /// <summary>
    /// The Orleans side of node <paramref name="nodeId"/> of a local cluster: consecutive silo and gateway ports, and
    /// the membership table in the cluster's own store (any one silo may die), or, with
    /// <see cref="SiloClustering.Development"/>, in memory on the first node's silo (which must then stay up).
    /// </summary>
    public static OrleansSiloOptions OrleansOptionsFor(ulong nodeId, int siloPortBase, int gatewayPortBase,
        SiloClustering clustering = SiloClustering.RaftKv) => new()
    {
        SiloPort = siloPortBase + (int)nodeId - 1,
        GatewayPort = gatewayPortBase + (int)nodeId - 1,
        AdvertisedAddress = "127.0.0.1",
        Clustering = clustering,
        PrimarySiloEndpoint = $"127.0.0.1:{siloPortBase}",
    };

    /// <summary>The arguments that configure one silo of a cluster; also used by the integration tests.</summary>
    public static List<string> SiloArguments(NodeMember self, IReadOnlyList<NodeMember> members, string dataDirectory, OrleansSiloOptions orleans)
    {
        ArgumentNullException.ThrowIfNull(orleans);
        var args = new List<string>
        {
            $"--RaftKv:NodeId={self.Id}", $"--RaftKv:DataDirectory={dataDirectory}", $"--RaftKv:ParentProcessId={Environment.ProcessId}",
        };
        for (int i = 0; i < members.Count; i++)
        {
            args.Add($"--RaftKv:Members:{i}:Id={members[i].Id}");
            args.Add($"--RaftKv:Members:{i}:PeerAddress={members[i].PeerAddress}");
            args.Add($"--RaftKv:Members:{i}:ClientAddress={members[i].ClientAddress}");
            if (members[i].HttpAddress.Length > 0) args.Add($"--RaftKv:Members:{i}:HttpAddress={members[i].HttpAddress}");
        }
        args.Add($"--{OrleansSiloOptions.SectionName}:ClusterId={orleans.ClusterId}");
        args.Add($"--{OrleansSiloOptions.SectionName}:ServiceId={orleans.ServiceId}");
        args.Add($"--{OrleansSiloOptions.SectionName}:SiloPort={orleans.SiloPort}");
        args.Add($"--{OrleansSiloOptions.SectionName}:GatewayPort={orleans.GatewayPort}");
        args.Add($"--{OrleansSiloOptions.SectionName}:AdvertisedAddress={orleans.AdvertisedAddress}");
        args.Add($"--{OrleansSiloOptions.SectionName}:Clustering={orleans.Clustering}");
        args.Add($"--{OrleansSiloOptions.SectionName}:PrimarySiloEndpoint={orleans.PrimarySiloEndpoint}");
        return args;
    }

    private static Process Start(NodeMember self, IReadOnlyList<NodeMember> members, string dataDirectory, OrleansSiloOptions orleans)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(LocalCluster).Assembly.Location);
        foreach (string arg in SiloArguments(self, members, dataDirectory, orleans)) start.ArgumentList.Add(arg);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a silo process");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Console.WriteLine($"[node{self.Id}] {e.Data}"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[node{self.Id}] {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void StopAll(Process[] processes)
    {
        foreach (Process process in processes)
        {
            try
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
