namespace RaftKv.Simulation;

/// <summary>What one seeded run found.</summary>
public sealed record SimulationResult(
    ulong Seed,
    SimulationOptions Options,
    IReadOnlyList<string> Violations,
    long SimulatedMs,
    int Elections,
    ulong Commits,
    int CommandsApplied,
    long Events)
{
    public bool Passed => Violations.Count == 0;

    /// <summary>The one-line command that replays this run exactly.</summary>
    public string ReplayCommand =>
        $"dotnet run -c Release --project Tests/RaftKv.Simulator -- --seed {Seed}" +
        (Options.Bug != SimulatedBug.None ? $" --bug {Options.Bug}" : "") +
        (Options.Storage != SimulatedStorageKind.Memory ? $" --storage {Options.Storage}" : "");
}
