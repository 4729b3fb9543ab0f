using System.Diagnostics;
using RaftKv.Client;
using RaftKv.Client.Protos;

namespace RaftKv.Chaos.Cluster;

public sealed record ChaosClusterOptions
{
    public int Nodes { get; init; } = 3;

    /// <summary>Distinguishes concurrent runs on one machine: namespace names, subnet and loopback ports derive from it (0..199).</summary>
    public int RunId { get; init; }

    public required string RunDirectory { get; init; }

    /// <summary>Each silo in its own network namespace (needs root, ip, iptables); otherwise loopback without partitions.</summary>
    public bool NetworkNamespaces { get; init; } = true;

    /// <summary>Start silos under libfaketime so their clocks can be skewed (needs the faketime package).</summary>
    public bool FakeTime { get; init; } = true;

    /// <summary>Put each node's data directory on its own tmpfs of this size, so the runner can fill it (needs root); 0: no tmpfs.</summary>
    public long TmpfsBytes { get; init; } = 512L * 1024 * 1024;

    public IReadOnlyList<string> ExtraSiloArguments { get; init; } = [];
}

/// <summary>
/// Real silo processes with fault handles: kill -9 and restart, SIGSTOP/SIGCONT, network cuts (namespaces),
/// clock offsets (libfaketime) and a fillable data disk (tmpfs). Processes are started only through
/// <see cref="SiloLauncher"/>.
/// </summary>
public sealed class ChaosCluster : IAsyncDisposable
{
    private const int ClientPort = 18101, PeerPort = 18201;
    private const string FillerFile = "chaos-disk-filler";
    private readonly ChaosClusterOptions _options;
    private readonly Dictionary<int, Process?> _processes = [];
    private readonly HashSet<int> _paused = [];
    private readonly HashSet<int> _mounted = [];
    private readonly HashSet<int> _joining = [];
    private readonly RaftKvClient _statusClient;

    public ChaosCluster(ChaosClusterOptions options)
    {
        _options = options;
        Directory.CreateDirectory(options.RunDirectory);
        if (options.NetworkNamespaces)
        {
            string? why = NamespaceNetwork.Unsupported();
            if (why is not null) throw new InvalidOperationException($"network namespaces are unavailable: {why}");
            Network = NamespaceNetwork.Create(options.RunId, options.Nodes);
        }
        bool fakeTime = options.FakeTime && SiloLauncher.FakeTimeLibrary() is not null;
        int loopbackBase = 18000 + 20 * ((Network?.Run ?? options.RunId) % 40);
        Nodes = [.. Enumerable.Range(1, options.Nodes).Select(id =>
        {
            string address = Network?.Address(id) ?? "127.0.0.1";
            return new ChaosNode
            {
                Id = id,
                Address = address,
                ClientAddress = Network is null ? $"http://{address}:{loopbackBase + id}" : $"http://{address}:{ClientPort}",
                PeerAddress = Network is null ? $"http://{address}:{loopbackBase + 10 + id}" : $"http://{address}:{PeerPort}",
                DataDirectory = Path.Combine(options.RunDirectory, $"node{id}", "data"),
                ClockFile = fakeTime ? Path.Combine(options.RunDirectory, $"node{id}", "clock-offset") : null,
                LogFile = Path.Combine(options.RunDirectory, $"node{id}", "silo.log"),
            };
        })];
        try
        {
            foreach (ChaosNode node in Nodes)
            {
                Directory.CreateDirectory(node.DataDirectory);
                if (node.ClockFile is not null) File.WriteAllText(node.ClockFile, "+0\n");
                if (options.TmpfsBytes > 0 && Shell.IsRoot)
                {
                    Shell.Check("mount", "-t", "tmpfs", "-o", $"size={options.TmpfsBytes}", "tmpfs", node.DataDirectory);
                    _mounted.Add(node.Id);
                }
                _processes[node.Id] = null;
            }
        }
        catch
        {
            // Leave nothing behind: no namespaces, no mounts.
            Network?.Dispose();
            foreach (int id in _mounted) Shell.Run("umount", "-l", Node(id).DataDirectory);
            throw;
        }
        _statusClient = new RaftKvClient(new RaftKvClientOptions { Endpoints = [.. Nodes.Select(n => n.ClientAddress)], MaxAttempts = 1, AttemptTimeoutMs = 1_000 });
        Admin = new RaftKvClient(new RaftKvClientOptions { Endpoints = [.. Nodes.Select(n => n.ClientAddress)], MaxAttempts = 3, AttemptTimeoutMs = 2_000 });
    }

    /// <summary>A client for the membership (admin) calls; they follow the leader like reads.</summary>
    public RaftKvClient Admin { get; }

    public IReadOnlyList<ChaosNode> Nodes { get; }

    public NamespaceNetwork? Network { get; }

    public bool ClockFaultsSupported => Nodes[0].ClockFile is not null;

    public bool DiskFaultsSupported => _mounted.Count == Nodes.Count;

    /// <summary>Called when a silo exits on its own (not killed by the runner): node id and exit code.</summary>
    public event Action<int, int>? NodeExited;

    public ChaosNode Node(int id) => Nodes[id - 1];

    public bool IsRunning(int id)
    {
        lock (_processes) return _processes[id] is { HasExited: false };
    }

    public bool IsPaused(int id)
    {
        lock (_processes) return _paused.Contains(id);
    }

    public void Start(int id)
    {
        lock (_processes)
        {
            if (_processes[id] is { HasExited: false }) return;
            ChaosNode node = Node(id);
            // A node that was replaced (wiped and rejoined) starts with RaftKv:Join from then on: until its own log
            // says it is a member it must ask to be added, never boot as a voter of the initial configuration with an
            // empty log (that would forget its votes). Through the next node: any member forwards to the leader.
            IReadOnlyList<string> arguments = _joining.Contains(id)
                ? [.. _options.ExtraSiloArguments, $"--RaftKv:Join={Node(id % Nodes.Count + 1).ClientAddress}"]
                : _options.ExtraSiloArguments;
            ProcessStartInfo start = SiloLauncher.StartInfo(node, Nodes, Network?.ExecPrefix(id) ?? [], arguments);
            var log = new StreamWriter(node.LogFile, append: true) { AutoFlush = true };
            log.WriteLine($"==== chaos runner: starting node {id} at {DateTime.UtcNow:O}");
            Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start node {id}");
            process.EnableRaisingEvents = true;
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
            process.Exited += (_, _) =>
            {
                bool expected;
                lock (_processes) expected = !ReferenceEquals(_processes[id], process);
                process.WaitForExit(); // drains the output handlers
                lock (log) log.Dispose();
                if (!expected) NodeExited?.Invoke(id, process.ExitCode);
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            _processes[id] = process;
            _paused.Remove(id);
        }
    }

    /// <summary>kill -9: no flush, no checkpoint. A paused process dies too.</summary>
    public void Kill(int id)
    {
        Process? process;
        lock (_processes)
        {
            process = _processes[id];
            _processes[id] = null;
            _paused.Remove(id);
        }
        if (process is null) return;
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        process.WaitForExit();
        process.Dispose();
    }

    /// <summary>SIGTERM: a graceful stop, as a service manager asks for one.</summary>
    public void Terminate(int id) => Signal(id, "TERM", pause: false);

    public void Pause(int id) => Signal(id, "STOP", pause: true);

    public void Resume(int id) => Signal(id, "CONT", pause: false);

    private void Signal(int id, string signal, bool pause)
    {
        lock (_processes)
        {
            if (_processes[id] is not { HasExited: false } process) return;
            Shell.Run("kill", $"-{signal}", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (pause) _paused.Add(id);
            else _paused.Remove(id);
        }
    }

    /// <summary>Sets the node's libfaketime offset, e.g. "+30" or "-20" seconds (libfaketime's relative format).</summary>
    public void SetClockOffset(int id, int offsetSeconds)
    {
        string file = Node(id).ClockFile ?? throw new InvalidOperationException("faketime is not enabled");
        File.WriteAllText(file, (offsetSeconds >= 0 ? "+" : "") + offsetSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
    }

    /// <summary>Fills the node's tmpfs data disk to the last byte; returns the bytes written.</summary>
    public long FillDisk(int id)
    {
        if (!_mounted.Contains(id)) throw new InvalidOperationException("the node's data directory is not on a tmpfs");
        string path = Path.Combine(Node(id).DataDirectory, FillerFile);
        var chunk = new byte[1 << 20];
        long written = 0;
        try
        {
            using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
            while (true)
            {
                file.Write(chunk);
                written += chunk.Length;
            }
        }
        catch (IOException)
        {
            // ENOSPC: full. Fill the last partial megabyte too.
            try
            {
                using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
                for (int size = 1 << 19; size >= 512; size /= 2)
                {
                    try
                    {
                        file.Write(chunk, 0, size);
                        written += size;
                    }
                    catch (IOException)
                    {
                    }
                }
            }
            catch (IOException)
            {
            }
        }
        return written;
    }

    /// <summary>
    /// Deletes everything the (stopped) node stored, as a replaced machine has nothing, and makes its later starts
    /// join the cluster as a new learner.
    /// </summary>
    public void WipeAndJoin(int id)
    {
        lock (_processes)
        {
            if (_processes[id] is { HasExited: false }) throw new InvalidOperationException($"node {id} is running; kill it before wiping its data");
            var directory = new DirectoryInfo(Node(id).DataDirectory);
            foreach (FileSystemInfo entry in directory.EnumerateFileSystemInfos())
            {
                if (entry is DirectoryInfo sub) sub.Delete(recursive: true);
                else entry.Delete();
            }
            _joining.Add(id);
        }
    }

    public void FreeDisk(int id)
    {
        string path = Path.Combine(Node(id).DataDirectory, FillerFile);
        if (File.Exists(path)) File.Delete(path);
    }

    public async Task<StatusResponse?> StatusAsync(int id, CancellationToken cancellationToken = default)
    {
        try
        {
            return await _statusClient.StatusAsync(Node(id).ClientAddress, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The leader as the running nodes see it now (highest term among nodes that say they lead), or null.</summary>
    public async Task<int?> LeaderAsync(CancellationToken cancellationToken = default)
    {
        var statuses = await Task.WhenAll(Nodes.Where(n => IsRunning(n.Id) && !IsPaused(n.Id)).Select(n => StatusAsync(n.Id, cancellationToken))).ConfigureAwait(false);
        return statuses.Where(s => s is { Role: Role.Leader }).OrderByDescending(s => s!.Term).Select(s => (int?)(int)s!.NodeId).FirstOrDefault();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (int id in _processes.Keys.ToArray())
        {
            Resume(id);
            Kill(id);
        }
        _statusClient.Dispose();
        Admin.Dispose();
        Network?.HealAll();
        Network?.Dispose();
        foreach (int id in _mounted) Shell.Run("umount", "-l", Node(id).DataDirectory);
        await Task.CompletedTask.ConfigureAwait(false);
    }
}
