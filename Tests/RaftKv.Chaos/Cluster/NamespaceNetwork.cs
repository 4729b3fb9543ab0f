namespace RaftKv.Chaos.Cluster;

/// <summary>
/// Real network partitions: every silo runs in its own network namespace with a veth link into a bridge that the
/// runner creates, on a private /24 used by nothing else (10.213.&lt;run&gt;.0/24; the runner's side of the bridge is
/// .254). A cut is an iptables DROP rule in the receiving node's namespace for packets from the sender's address,
/// so it stops every kind of traffic between the two processes (Raft mesh, gateway forwarding, and later Orleans'
/// silo-to-silo connections) while the runner can still reach every node. Only namespaces, links and rules created
/// here are touched; <see cref="Dispose"/> removes them all.
/// </summary>
public sealed class NamespaceNetwork : IDisposable
{
    private readonly int _run;
    private readonly int _nodes;
    private readonly HashSet<(int From, int To)> _cuts = [];
    private bool _disposed;

    private NamespaceNetwork(int run, int nodes)
    {
        _run = run;
        _nodes = nodes;
    }

    /// <summary>True when namespaces can be used here: root, with ip and iptables installed.</summary>
    public static string? Unsupported()
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        if (!Shell.IsRoot) return "not root";
        if (Shell.Which("ip") is null) return "ip (iproute2) is not installed";
        if (Shell.Which("iptables") is null) return "iptables is not installed";
        return null;
    }

    /// <summary>
    /// Creates the bridge and namespaces for the first free run number at or after <paramref name="preferredRun"/>
    /// (a run number is taken while its bridge exists, so concurrent runs on one machine never share or delete each
    /// other's links).
    /// </summary>
    public static NamespaceNetwork Create(int preferredRun, int nodes)
    {
        for (int attempt = 0; attempt < MaxRuns; attempt++)
        {
            var network = new NamespaceNetwork((preferredRun + attempt) % MaxRuns, nodes);
            if (Shell.Run("ip", "link", "add", network.Bridge, "type", "bridge").ExitCode != 0) continue; // taken
            try
            {
                network.Build();
                return network;
            }
            catch
            {
                network.Dispose();
                throw;
            }
        }
        throw new InvalidOperationException("no free run number for network namespaces (leftovers? see docs/chaos.md for cleanup)");
    }

    private const int MaxRuns = 200;

    public int Run => _run;

    private void Build()
    {
        Shell.Check("ip", "addr", "add", $"{Subnet}.254/24", "dev", Bridge);
        Shell.Check("ip", "link", "set", Bridge, "up");
        for (int node = 1; node <= _nodes; node++)
        {
            string ns = Namespace(node), host = HostLink(node);
            Shell.Check("ip", "netns", "add", ns);
            Shell.Check("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns);
            Shell.Check("ip", "link", "set", host, "master", Bridge, "up");
            Shell.Check("ip", "-n", ns, "addr", "add", $"{Address(node)}/24", "dev", "eth0");
            Shell.Check("ip", "-n", ns, "link", "set", "eth0", "up");
            Shell.Check("ip", "-n", ns, "link", "set", "lo", "up");
            Shell.Check("ip", "netns", "exec", ns, "iptables", "-F", "INPUT");
        }
    }

    public string Subnet => $"10.213.{_run}";

    public string Bridge => $"rkc{_run}br";

    public string Namespace(int node) => $"rkc{_run}n{node}";

    public string Address(int node) => $"{Subnet}.{node}";

    private string HostLink(int node) => $"rkc{_run}h{node}";

    /// <summary>The prefix that runs a program inside the node's namespace.</summary>
    public IReadOnlyList<string> ExecPrefix(int node) => [Shell.Which("ip") ?? "ip", "netns", "exec", Namespace(node)];

    public IReadOnlyCollection<(int From, int To)> Cuts
    {
        get { lock (_cuts) return [.. _cuts]; }
    }

    /// <summary>Drops every packet from <paramref name="from"/> to <paramref name="to"/> (one direction).</summary>
    public void Cut(int from, int to)
    {
        lock (_cuts)
        {
            if (from == to || !_cuts.Add((from, to))) return;
            Shell.Check("ip", "netns", "exec", Namespace(to), "iptables", "-A", "INPUT", "-s", Address(from), "-j", "DROP");
        }
    }

    public void CutBothWays(int a, int b)
    {
        Cut(a, b);
        Cut(b, a);
    }

    public void HealAll()
    {
        lock (_cuts)
        {
            for (int node = 1; node <= _nodes; node++) Shell.Run("ip", "netns", "exec", Namespace(node), "iptables", "-F", "INPUT");
            _cuts.Clear();
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        for (int node = 1; node <= _nodes; node++)
        {
            Shell.Run("ip", "link", "del", HostLink(node));
            Shell.Run("ip", "netns", "del", Namespace(node));
        }
        Shell.Run("ip", "link", "del", Bridge);
    }
}
