using System.Diagnostics;
using RaftKv.Simulation;

// The simulator runner. Examples:
//   dotnet run -c Release --project Tests/RaftKv.Simulator -- --seeds 1-20000
//   dotnet run -c Release --project Tests/RaftKv.Simulator -- --seed 4242            (replay one seed, verbose)
//   dotnet run -c Release --project Tests/RaftKv.Simulator -- --seeds 1-5000 --bug VoteWithoutUpToDateCheck
//   dotnet run -c Release --project Tests/RaftKv.Simulator -- --elections 1000
var arguments = Arguments.Parse(args);
if (arguments.Error is not null)
{
    Console.Error.WriteLine(arguments.Error);
    Console.Error.WriteLine("usage: --seeds A-B | --seed N  [--bug NAME] [--storage Memory|WriteAheadLog] | --elections COUNT");
    return 2;
}

if (arguments.ElectionTrials > 0)
{
    ElectionStatistics stats = ElectionStatistics.Measure(arguments.ElectionTrials, nodeCount: 5);
    Console.WriteLine(stats.Summary());
    return 0;
}

var stopwatch = Stopwatch.StartNew();
int runs = 0, failures = 0;
long simulatedMs = 0, elections = 0, commits = 0, events = 0, membershipChanges = 0, transfers = 0, reads = 0;
long failFastChecks = 0, acknowledgedWrites = 0, linearizableReads = 0, staleReads = 0, retries = 0, keysGivenUp = 0, snapshotTransfers = 0, chunksLost = 0, resumed = 0, expired = 0;
var failed = new List<SimulationResult>();
object gate = new();
Parallel.For((long)arguments.FirstSeed, (long)arguments.LastSeed + 1, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
{
    SimulationOptions options = SimulationOptions.Swarm((ulong)seed, arguments.Bug, arguments.Storage);
    var simulation = new ClusterSimulation(options);
    if (arguments.FirstSeed == arguments.LastSeed && Environment.GetEnvironmentVariable("RAFTKV_SIM_TRACE") == "1") simulation.Trace = Console.WriteLine;
    SimulationResult result = simulation.Run();
    if (arguments.FirstSeed == arguments.LastSeed) Console.WriteLine($"seed {result.Seed}: trace hash {result.TraceHash:x16}, {result.Events} events");
    lock (gate)
    {
        runs++;
        simulatedMs += result.SimulatedMs;
        elections += result.Elections;
        commits += (long)result.Commits;
        events += result.Events;
        membershipChanges += result.MembershipChanges;
        transfers += result.LeadershipTransfers;
        reads += result.ReadsServed;
        acknowledgedWrites += result.AcknowledgedWrites;
        linearizableReads += result.LinearizableReads;
        staleReads += result.StaleReads;
        retries += result.ClientRetries;
        keysGivenUp += result.KeysGivenUp;
        snapshotTransfers += result.SnapshotTransfers;
        chunksLost += result.SnapshotChunksLost;
        resumed += result.SnapshotTransfersResumed;
        expired += result.SessionsExpired;
        failFastChecks += result.FailFastChecks;
        if (!result.Passed)
        {
            failures++;
            if (failed.Count < 10) failed.Add(result);
            Console.WriteLine($"... seed {result.Seed} failed: {result.Violations[0].Split('\n')[0]}");
        }
        if (arguments.Verbose || (runs % 1000 == 0)) Console.WriteLine($"... {runs} seeds, {failures} failing, {stopwatch.Elapsed.TotalSeconds:F0}s");
    }
});

foreach (SimulationResult result in failed.OrderBy(r => r.Seed))
{
    Console.WriteLine($"seed {result.Seed} FAILED ({result.Options})");
    foreach (string violation in result.Violations) Console.WriteLine($"  {violation}");
    Console.WriteLine($"  replay: {result.ReplayCommand}");
}
Console.WriteLine(
    $"seeds={runs} violations={failures} simulated={TimeSpan.FromMilliseconds(simulatedMs).TotalHours:F1}h elections={elections} " +
    $"commits={commits} membershipChanges={membershipChanges} transfers={transfers} readIndexes={reads} ackedWrites={acknowledgedWrites} " +
    $"linearizableReads={linearizableReads} staleReads={staleReads} clientRetries={retries} sessionsExpired={expired} keysGivenUp={keysGivenUp} " +
    $"snapshotTransfers={snapshotTransfers} chunksLost={chunksLost} transfersResumed={resumed} failFastChecks={failFastChecks} events={events} wall={stopwatch.Elapsed.TotalSeconds:F1}s");
return failures == 0 ? 0 : 1;

internal sealed record Arguments(ulong FirstSeed, ulong LastSeed, SimulatedBug Bug, SimulatedStorageKind Storage, int ElectionTrials, bool Verbose, string? Error)
{
    public static Arguments Parse(string[] args)
    {
        ulong first = 1, last = 1000;
        var bug = SimulatedBug.None;
        var storage = SimulatedStorageKind.Memory;
        int elections = 0;
        bool verbose = false;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--seeds":
                    string[] range = value.Split('-');
                    if (range.Length != 2 || !ulong.TryParse(range[0], out first) || !ulong.TryParse(range[1], out last) || first > last || first == 0)
                        return Fail($"--seeds takes a range like 1-20000, got '{value}'");
                    i++;
                    break;
                case "--seed":
                    if (!ulong.TryParse(value, out first) || first == 0) return Fail($"--seed takes a positive number, got '{value}'");
                    last = first;
                    verbose = true;
                    i++;
                    break;
                case "--bug":
                    if (!Enum.TryParse(value, out bug)) return Fail($"--bug takes one of {string.Join(", ", Enum.GetNames<SimulatedBug>())}");
                    i++;
                    break;
                case "--storage":
                    if (!Enum.TryParse(value, out storage)) return Fail($"--storage takes one of {string.Join(", ", Enum.GetNames<SimulatedStorageKind>())}");
                    i++;
                    break;
                case "--elections":
                    if (!int.TryParse(value, out elections) || elections < 1) return Fail($"--elections takes a positive count, got '{value}'");
                    i++;
                    break;
                default:
                    return Fail($"unknown argument '{args[i]}'");
            }
        }
        return new Arguments(first, last, bug, storage, elections, verbose, null);
    }

    private static Arguments Fail(string error) => new(0, 0, SimulatedBug.None, SimulatedStorageKind.Memory, 0, false, error);
}
