using System.Globalization;
using RaftKv.Chaos.Faults;

namespace RaftKv.Chaos.Runner;

/// <summary>One chaos run, as given on the command line (see <see cref="Parse"/> and <see cref="Usage"/>).</summary>
public sealed record ChaosOptions
{
    public int Seed { get; init; } = 1;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    public int Nodes { get; init; } = 3;

    /// <summary>Fault kinds to draw from; null: every kind this machine supports.</summary>
    public IReadOnlyList<FaultKind>? Faults { get; init; }

    public int RegisterKeys { get; init; } = 4;

    public int RegisterWorkers { get; init; } = 4;

    public int CounterWorkers { get; init; } = 2;

    public int WriteOnceWorkers { get; init; } = 1;

    /// <summary>Pause between one worker's operations, drawn from [0, ThinkMs]: paces the load so the checker stays fast.</summary>
    public int ThinkMs { get; init; } = 20;

    public int MinFaultMs { get; init; } = 1_000;

    public int MaxFaultMs { get; init; } = 5_000;

    public int MinQuietMs { get; init; } = 1_000;

    public int MaxQuietMs { get; init; } = 3_000;

    /// <summary>Where the run's files go; default: a fresh folder under the temp directory.</summary>
    public string? OutputDirectory { get; init; }

    public bool NetworkNamespaces { get; init; } = true;

    /// <summary>Client kinds the workers are dealt round-robin ("grpc", "orleans"); pinned readers always use gRPC.</summary>
    public IReadOnlyList<string> Clients { get; init; } = ["grpc", "orleans"];

    /// <summary>More configuration for every silo, e.g. "--RaftKv:TestFaultServeReadsLocally=true".</summary>
    public IReadOnlyList<string> SiloArguments { get; init; } = [];

    public const string Usage = """
        usage: RaftKv.Chaos [--seed N] [--duration 60s|10m] [--nodes 3|5] [--faults kill,kill-leader,...|all|none]
                            [--keys 4] [--register-workers 4] [--counter-workers 2] [--write-once-workers 1] [--think-ms 20]
                            [--fault-ms 1000-5000] [--quiet-ms 1000-3000] [--out DIR] [--loopback] [--silo-arg ARG]...
                            [--clients grpc,orleans]
          faults: kill, kill-leader, kill-all, pause, pause-leader, partition, isolate-leader, bridge, one-way, clock, disk-full,
                  transfer-leader, replace-member
          clients: grpc (RaftKvClient over the gateway), orleans (KV grains + RaftKvSession via an Orleans client); default both
          --loopback: no network namespaces (no partitions; for machines without root/iptables)
          --silo-arg: passed to every silo, e.g. --silo-arg --RaftKv:TestFaultServeReadsLocally=true
        """;

    public static ChaosOptions Parse(IReadOnlyList<string> args)
    {
        var options = new ChaosOptions();
        var siloArguments = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--seed": options = options with { Seed = Int(Value()) }; break;
                case "--duration": options = options with { Duration = ParseDuration(Value()) }; break;
                case "--nodes": options = options with { Nodes = Int(Value()) }; break;
                case "--faults":
                    string faults = Value();
                    options = options with
                    {
                        Faults = faults == "all" ? null : faults == "none" ? [] : [.. faults.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(FaultKinds.Parse)],
                    };
                    break;
                case "--keys": options = options with { RegisterKeys = Int(Value()) }; break;
                case "--register-workers": options = options with { RegisterWorkers = Int(Value()) }; break;
                case "--counter-workers": options = options with { CounterWorkers = Int(Value()) }; break;
                case "--write-once-workers": options = options with { WriteOnceWorkers = Int(Value()) }; break;
                case "--think-ms": options = options with { ThinkMs = Int(Value()) }; break;
                case "--fault-ms": (int minF, int maxF) = Range(Value()); options = options with { MinFaultMs = minF, MaxFaultMs = maxF }; break;
                case "--quiet-ms": (int minQ, int maxQ) = Range(Value()); options = options with { MinQuietMs = minQ, MaxQuietMs = maxQ }; break;
                case "--out": options = options with { OutputDirectory = Value() }; break;
                case "--loopback": options = options with { NetworkNamespaces = false }; break;
                case "--silo-arg": siloArguments.Add(Value()); break;
                case "--clients":
                    options = options with { Clients = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)] };
                    break;
                default: throw new ArgumentException($"unknown argument '{args[i]}'");
            }
        }
        options = options with { SiloArguments = siloArguments };
        if (options.Nodes is < 1 or > 9) throw new ArgumentException("--nodes must be 1..9");
        if (options.Clients.Count == 0 || options.Clients.Any(c => c is not ("grpc" or "orleans")))
            throw new ArgumentException("--clients takes grpc, orleans or both");
        if (options.RegisterKeys < 1) throw new ArgumentException("--keys must be at least 1");
        return options;
    }

    private static int Int(string value) => int.Parse(value, NumberStyles.Integer, CultureInfo.InvariantCulture);

    private static (int, int) Range(string value)
    {
        string[] parts = value.Split('-');
        return parts.Length == 2 ? (Int(parts[0]), Int(parts[1])) : (Int(value), Int(value));
    }

    public static TimeSpan ParseDuration(string value)
    {
        if (value.EndsWith("ms", StringComparison.Ordinal)) return TimeSpan.FromMilliseconds(Int(value[..^2]));
        if (value.EndsWith('s')) return TimeSpan.FromSeconds(Int(value[..^1]));
        if (value.EndsWith('m')) return TimeSpan.FromMinutes(Int(value[..^1]));
        return TimeSpan.FromSeconds(Int(value));
    }
}
