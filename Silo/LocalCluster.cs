using RaftKv.Client.Security;
using RaftKv.Node;
using RaftKv.Silo.Security;
using System.Diagnostics;
using System.Security.Cryptography;

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
        bool tls = false;
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
                case "--tls": tls = true; break;
                case "--clustering" when Enum.TryParse(value, ignoreCase: true, out SiloClustering c) && Enum.IsDefined(c): clustering = c; i++; break;
                default:
                    await Console.Error.WriteLineAsync($"unknown or invalid argument '{args[i]}'\nusage: local-cluster [--nodes 3] [--data-dir .raftkv] [--client-port 7101] [--peer-port 7201] [--http-port 7301] [--silo-port 11111] [--gateway-port 30000] [--clustering raftkv|development] [--tls]");
                    return 2;
            }
        }

        string scheme = tls ? "https" : "http";
        var members = Enumerable.Range(1, nodes).Select(id => new NodeMember
        {
            Id = (ulong)id,
            ClientAddress = $"{scheme}://127.0.0.1:{clientPortBase + id - 1}",
            PeerAddress = $"{scheme}://127.0.0.1:{peerPortBase + id - 1}",
            HttpAddress = $"http://127.0.0.1:{httpPortBase + id - 1}",
        }).ToArray();
        string certificates = Path.Combine(dataDirectory, "certs");
        if (tls) PrepareDevelopmentCertificates(certificates, nodes);
        string endpoints = string.Join(",", members.Select(m => m.ClientAddress));
        var orleans = members.ToDictionary(m => m.Id, m => OrleansOptionsFor(m.Id, siloPortBase, gatewayPortBase, clustering));
        string gateways = string.Join(",", orleans.Values.Select(o => $"127.0.0.1:{o.GatewayPort}"));
        Console.WriteLine($"RaftKv local cluster: {nodes} nodes, data under {dataDirectory}");
        Console.WriteLine($"  client endpoints: {endpoints}");
        Console.WriteLine($"  Orleans gateways: {gateways} ({clustering} clustering)");
        Console.WriteLine($"  monitoring (/ cluster page, /metrics, /healthz, /readyz): {string.Join(",", members.Select(m => m.HttpAddress))}");
        if (tls)
        {
            Console.WriteLine($"  TLS on (mutual TLS between nodes, Orleans TLS); certificates in {certificates}");
            Console.WriteLine($"  try: dotnet run --project Client/RaftKv.Cli -- --endpoints {endpoints} --cacert {DevelopmentCertificates.CaFile(certificates)} --cert {DevelopmentCertificates.ClientCertificateFile(certificates, "admin")} --key {DevelopmentCertificates.ClientKeyFile(certificates, "admin")} status --all");
            Console.WriteLine($"  or with the bearer token: --cacert {DevelopmentCertificates.CaFile(certificates)} --token $(cat {TokenFile(certificates)})");
        }
        else
        {
            Console.WriteLine($"  try: dotnet run --project Client/RaftKv.Cli -- --endpoints {endpoints} status --all");
        }
        Console.WriteLine($"  or:  dotnet run --project samples/RaftKv.Samples.OrleansClient -- {gateways}{(tls ? $" --tls {certificates}" : "")}");
        Console.WriteLine("  Ctrl+C stops the cluster.");

        var processes = members.Select(m => Start(m, members, Path.Combine(dataDirectory, $"node{m.Id}"), orleans[m.Id],
            tls ? TlsArguments(certificates, m.Id, TokenFile(certificates)) : [])).ToArray();
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

    /// <summary>
    /// The arguments that turn TLS on for node <paramref name="nodeId"/> with the certificates of
    /// <see cref="DevelopmentCertificates.CreateDirectory"/> in <paramref name="certificateDirectory"/>; with
    /// <paramref name="tokensFile"/>, clients must authenticate (client certificate or a token from that file).
    /// </summary>
    public static List<string> TlsArguments(string certificateDirectory, ulong nodeId, string? tokensFile)
    {
        var args = new List<string>
        {
            $"--{SecurityOptions.SectionName}:CertificateFile={DevelopmentCertificates.NodeCertificateFile(certificateDirectory, nodeId)}",
            $"--{SecurityOptions.SectionName}:KeyFile={DevelopmentCertificates.NodeKeyFile(certificateDirectory, nodeId)}",
            $"--{SecurityOptions.SectionName}:CaFile={DevelopmentCertificates.CaFile(certificateDirectory)}",
        };
        if (tokensFile is not null) args.Add($"--{SecurityOptions.SectionName}:ClientTokensFile={tokensFile}");
        return args;
    }

    private static string TokenFile(string certificateDirectory) => Path.Combine(certificateDirectory, "client-tokens");

    /// <summary>Creates the development CA, node certificates, an "admin" client certificate and a token file, unless they exist.</summary>
    private static void PrepareDevelopmentCertificates(string directory, int nodes)
    {
        bool complete = File.Exists(DevelopmentCertificates.CaFile(directory))
            && Enumerable.Range(1, nodes).All(id => File.Exists(DevelopmentCertificates.NodeCertificateFile(directory, (ulong)id)));
        if (!complete)
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
            DevelopmentCertificates.CreateDirectory(directory, nodes, ["127.0.0.1", "localhost"], ["admin"], TimeSpan.FromDays(365));
        }
        string tokens = TokenFile(directory);
        if (!File.Exists(tokens))
        {
            File.WriteAllText(tokens, "");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tokens, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(tokens, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)) + "\n");
        }
    }

    private static Process Start(NodeMember self, IReadOnlyList<NodeMember> members, string dataDirectory, OrleansSiloOptions orleans, List<string> extra)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(LocalCluster).Assembly.Location);
        foreach (string arg in SiloArguments(self, members, dataDirectory, orleans)) start.ArgumentList.Add(arg);
        foreach (string arg in extra) start.ArgumentList.Add(arg);
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
