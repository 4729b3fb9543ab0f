using RaftKv.Raft;

namespace RaftKv.Simulation;

/// <summary>
/// A hand-driven cluster for readable scenario tests (in the spirit of etcd-io/raft's interaction scripts): the
/// test decides which messages are delivered, which nodes tick, crash or are cut off, and every delivered message
/// is written to <see cref="Transcript"/>. Each Ready is carried out at once (<see cref="InstantReadyLoop"/>): sent,
/// persisted, applied, advanced.
/// </summary>
public sealed class ScenarioCluster
{
    private readonly Dictionary<ulong, RaftNode?> _nodes = [];
    private readonly Dictionary<ulong, MemorySimulatedStorage> _storage = [];
    private readonly Dictionary<ulong, SimulatedStateMachine> _stateMachines = [];
    private readonly HashSet<ulong> _isolated = [];
    private readonly List<Message> _inFlight = [];
    private readonly List<string> _transcript = [];
    private readonly Func<ulong, RaftOptions> _optionsFor;

    public ScenarioCluster(int nodeCount, Func<ulong, RaftOptions, RaftOptions>? configure = null, Func<ulong, PersistentState>? initialState = null)
    {
        Configuration = new ClusterConfiguration(Enumerable.Range(1, nodeCount).Select(i => (ulong)i));
        _optionsFor = id =>
        {
            var options = new RaftOptions { NodeId = id, ElectionTimeoutTicks = 10, HeartbeatIntervalTicks = 1, RandomSeed = id * 7919 };
            return configure?.Invoke(id, options) ?? options;
        };
        foreach (ulong id in Configuration.Voters)
        {
            var storage = new MemorySimulatedStorage(Configuration);
            if (initialState?.Invoke(id) is { } state)
            {
                storage.Write(new Ready { HardState = state.HardState, Entries = state.Entries }, null);
                storage.Sync();
            }
            _storage[id] = storage;
            Start(id);
        }
    }

    /// <summary>The configuration the cluster started with; a node's current one is <c>Node(id).Configuration</c>.</summary>
    public ClusterConfiguration Configuration { get; }

    /// <summary>
    /// Starts a brand-new server <paramref name="id"/> outside the configuration (Raft thesis 4.2.1): it knows the
    /// initial configuration, is not a voter in it, and so waits for a leader to add it and send it the log.
    /// </summary>
    public RaftNode AddNode(ulong id)
    {
        if (_storage.ContainsKey(id)) throw new InvalidOperationException($"node {id} exists");
        _storage[id] = new MemorySimulatedStorage(Configuration);
        Start(id);
        return Node(id);
    }

    /// <summary>Every <see cref="Ready.LeadershipLoss"/> a node reported, in order.</summary>
    public List<(ulong Node, LeadershipLoss Loss)> LeadershipLosses { get; } = [];

    public ClusterChecker Checker { get; } = new();

    public IReadOnlyList<string> Transcript => _transcript;

    public IReadOnlyList<Message> InFlight => _inFlight;

    public RaftNode Node(ulong id) => _nodes[id] ?? throw new InvalidOperationException($"node {id} is down");

    public SimulatedStateMachine StateMachine(ulong id) => _stateMachines[id];

    public IEnumerable<RaftNode> LiveNodes => _nodes.Values.OfType<RaftNode>();

    public RaftNode? Leader => LiveNodes.Where(n => n.Role == RaftRole.Leader).OrderByDescending(n => n.Term).FirstOrDefault();

    public void Tick(ulong id, int ticks = 1)
    {
        for (int i = 0; i < ticks; i++)
        {
            Node(id).Tick();
            Process(id);
        }
    }

    public void TickAll(int ticks = 1)
    {
        for (int i = 0; i < ticks; i++)
        {
            foreach (ulong id in _nodes.Keys.Where(id => _nodes[id] is not null).ToArray()) Tick(id);
        }
    }

    public ProposeResult Propose(ulong id, ulong commandId)
    {
        ProposeResult result = Node(id).Propose(SimulatedStateMachine.EncodeCommand(commandId));
        Process(id);
        return result;
    }

    /// <summary>Calls <paramref name="action"/> on node <paramref name="id"/> (an admin call, say), then carries out its Ready.</summary>
    public T Do<T>(ulong id, Func<RaftNode, T> action)
    {
        T result = action(Node(id));
        Process(id);
        return result;
    }

    public ReadIndexOutcome ReadIndex(ulong id, ulong requestId)
    {
        ReadIndexOutcome outcome = Node(id).ReadIndex(requestId);
        Process(id);
        return outcome;
    }

    /// <summary>Read states released so far, per node.</summary>
    public List<(ulong Node, ReadState State)> ReadStates { get; } = [];

    /// <summary>Delivers in-flight messages matching <paramref name="filter"/> (all by default) until none are left; returns how many.</summary>
    public int Deliver(Func<Message, bool>? filter = null, int maxMessages = 100_000)
    {
        int delivered = 0;
        while (delivered < maxMessages)
        {
            int index = _inFlight.FindIndex(m => filter?.Invoke(m) ?? true);
            if (index < 0) break;
            Message message = _inFlight[index];
            _inFlight.RemoveAt(index);
            if (_isolated.Contains(message.From) || _isolated.Contains(message.To) || _nodes.GetValueOrDefault(message.To) is null)
            {
                _transcript.Add($"drop    {message}");
                continue;
            }
            _transcript.Add($"deliver {message}");
            Node(message.To).Step(message);
            Process(message.To);
            delivered++;
        }
        return delivered;
    }

    /// <summary>Drops every in-flight message matching <paramref name="filter"/>.</summary>
    public void Drop(Func<Message, bool> filter) => _inFlight.RemoveAll(m => filter(m));

    /// <summary>Ticks and delivers until <paramref name="condition"/> holds; fails after <paramref name="maxTicks"/>.</summary>
    public void RunUntil(Func<bool> condition, int maxTicks = 1000)
    {
        for (int tick = 0; tick < maxTicks && !condition(); tick++)
        {
            TickAll();
            Deliver();
        }
        if (!condition()) throw new TimeoutException($"condition not reached within {maxTicks} ticks");
    }

    public RaftNode ElectLeader(ulong id)
    {
        // Raft thesis 3.4: a node whose election timer fires campaigns; ticking only it makes it first.
        Tick(id, 2 * 10);
        Deliver();
        if (Node(id).Role != RaftRole.Leader) throw new InvalidOperationException($"node {id} did not win: {Node(id).Role}");
        return Node(id);
    }

    public void Isolate(ulong id) => _isolated.Add(id);

    public void Heal() => _isolated.Clear();

    public void Crash(ulong id)
    {
        _nodes[id] = null;
        _inFlight.RemoveAll(m => m.To == id);
        _transcript.Add($"crash   node {id}");
    }

    public void Start(ulong id)
    {
        (PersistentState state, byte[]? snapshotData) = _storage[id].Load();
        var stateMachine = new SimulatedStateMachine();
        if (snapshotData is not null) stateMachine.Restore(state.Snapshot!.Index, new MemoryStream(snapshotData));
        _stateMachines[id] = stateMachine;
        _nodes[id] = new RaftNode(_optionsFor(id), state with { AppliedIndex = stateMachine.AppliedIndex });
        Checker.OnRestart(id, state.HardState);
        Process(id);
    }

    private void Process(ulong id)
    {
        RaftNode node = Node(id);
        Checker.AfterEvent(id, node);
        InstantReadyLoop.Drain(node, _inFlight.Add,
            persist: ready =>
            {
                _storage[id].Write(ready, null);
                _storage[id].Sync();
                Checker.OnEntriesPersisted(id, ready.Entries);
            },
            apply: entry =>
            {
                _stateMachines[id].Apply(entry);
                Checker.OnApplied(id, entry);
            },
            advanced: ready =>
            {
                foreach (ReadState state in ready.ReadStates) ReadStates.Add((id, state));
                if (ready.LeadershipLoss is { } loss) LeadershipLosses.Add((id, loss));
                Checker.AfterEvent(id, node);
            });
    }
}
