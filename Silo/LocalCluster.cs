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
        int clientPortBase = 7101, peerPortBase = 7201;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--nodes" when int.TryParse(value, out int n) && n is >= 1 and <= 9: nodes = n; i++; break;
                case "--data-dir" when value.Length > 0: dataDirectory = Path.GetFullPath(value); i++; break;
                case "--client-port" when int.TryParse(value, out int c): clientPortBase = c; i++; break;
                case "--peer-port" when int.TryParse(value, out int p): peerPortBase = p; i++; break;
                default:
                    await Console.Error.WriteLineAsync($"unknown or invalid argument '{args[i]}'\nusage: local-cluster [--nodes 3] [--data-dir .raftkv] [--client-port 7101] [--peer-port 7201]");
                    return 2;
            }
        }

        var members = Enumerable.Range(1, nodes).Select(id => new NodeMember
        {
            Id = (ulong)id,
            ClientAddress = $"http://127.0.0.1:{clientPortBase + id - 1}",
            PeerAddress = $"http://127.0.0.1:{peerPortBase + id - 1}",
        }).ToArray();
        string endpoints = string.Join(",", members.Select(m => m.ClientAddress));
        Console.WriteLine($"RaftKv local cluster: {nodes} nodes, data under {dataDirectory}");
        Console.WriteLine($"  client endpoints: {endpoints}");
        Console.WriteLine($"  try: dotnet run --project Client/RaftKv.Cli -- --endpoints {endpoints} status --all");
        Console.WriteLine("  Ctrl+C stops the cluster.");

        var processes = members.Select(m => Start(m, members, Path.Combine(dataDirectory, $"node{m.Id}"))).ToArray();
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

    /// <summary>The arguments that configure one silo of a cluster; also used by the integration tests.</summary>
    public static List<string> SiloArguments(NodeMember self, IReadOnlyList<NodeMember> members, string dataDirectory)
    {
        var args = new List<string>
        {
            $"--RaftKv:NodeId={self.Id}", $"--RaftKv:DataDirectory={dataDirectory}", $"--RaftKv:ParentProcessId={Environment.ProcessId}",
        };
        for (int i = 0; i < members.Count; i++)
        {
            args.Add($"--RaftKv:Members:{i}:Id={members[i].Id}");
            args.Add($"--RaftKv:Members:{i}:PeerAddress={members[i].PeerAddress}");
            args.Add($"--RaftKv:Members:{i}:ClientAddress={members[i].ClientAddress}");
        }
        return args;
    }

    private static Process Start(NodeMember self, IReadOnlyList<NodeMember> members, string dataDirectory)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(LocalCluster).Assembly.Location);
        foreach (string arg in SiloArguments(self, members, dataDirectory)) start.ArgumentList.Add(arg);
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
