using RaftKv.Node;
using System.Diagnostics;
using RaftKv.Silo;

namespace RaftKv.Chaos.Cluster;

/// <summary>
/// THE one place that knows how a silo process is started: program, arguments, environment, and the wrappers that
/// put it in its network namespace and under libfaketime. When silos become Orleans silos, only this class changes.
/// </summary>
public static class SiloLauncher
{
    /// <summary>libfaketime's multi-threaded preload library (Debian package "faketime"), or null if not installed.</summary>
    public static string? FakeTimeLibrary()
    {
        string[] candidates =
        [
            "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
            "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
            "/usr/lib/faketime/libfaketimeMT.so.1",
        ];
        return candidates.FirstOrDefault(File.Exists);
    }

    public static ProcessStartInfo StartInfo(ChaosNode node, IReadOnlyList<ChaosNode> members, IReadOnlyList<string> execPrefix,
        IReadOnlyList<string> extraArguments)
    {
        var command = new List<string>(execPrefix) { "dotnet", typeof(SiloHost).Assembly.Location };
        var siloMembers = members.Select(m => new NodeMember { Id = (ulong)m.Id, PeerAddress = m.PeerAddress, ClientAddress = m.ClientAddress }).ToList();
        // Orleans' silo and gateway ports sit 100 and 200 above the node's peer port (distinct in loopback mode, where
        // every node shares 127.0.0.1); membership lives in the Raft-replicated table, so no silo is special.
        int peerPort = new Uri(node.PeerAddress).Port;
        var orleans = new OrleansSiloOptions
        {
            SiloPort = peerPort + 100,
            GatewayPort = peerPort + 200,
            AdvertisedAddress = node.Address,
            Clustering = SiloClustering.RaftKv,
            PrimarySiloEndpoint = $"{members[0].Address}:{new Uri(members[0].PeerAddress).Port + 100}",
        };
        command.AddRange(LocalCluster.SiloArguments(siloMembers.Single(m => m.Id == (ulong)node.Id), siloMembers, node.DataDirectory, orleans));
        command.Add("--RaftKv:EnableTestFaults=true");
        command.Add("--Logging:LogLevel:Microsoft.AspNetCore=Warning");
        command.AddRange(extraArguments);

        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = false, UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1)) start.ArgumentList.Add(argument);
        if (node.ClockFile is not null && FakeTimeLibrary() is { } library)
        {
            // The offset in the file applies to every clock libfaketime intercepts (realtime and monotonic); it is
            // re-read at most once a second, so a jump takes effect within a second of the runner rewriting it.
            start.Environment["LD_PRELOAD"] = library;
            start.Environment["FAKETIME_TIMESTAMP_FILE"] = node.ClockFile;
            start.Environment["FAKETIME_CACHE_DURATION"] = "1";
        }
        // The runner's own .NET settings must not leak into the silo (e.g. a test host's diagnostics variables).
        start.Environment.Remove("DOTNET_STARTUP_HOOKS");
        return start;
    }
}
