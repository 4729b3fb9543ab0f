namespace RaftKv.Simulation;

/// <summary>What one seeded run found.</summary>
public sealed record SimulationResult(
    ulong Seed,
    SimulationOptions Options,
    IReadOnlyList<string> Violations,
    long SimulatedMs,
    int Elections,
    ulong Commits,
    int AcknowledgedWrites,
    long Events)
{
    public bool Passed => Violations.Count == 0;

    /// <summary>Configuration changes made through the leader's driver (admin calls that completed: the change committed).</summary>
    public int MembershipChanges { get; init; }

    /// <summary>Leadership transfers that completed (the target took over).</summary>
    public int LeadershipTransfers { get; init; }

    /// <summary>Linearizable reads that returned a read index.</summary>
    public int ReadsServed { get; init; }

    /// <summary>Linearizable reads the clients completed (each in the checked history).</summary>
    public int LinearizableReads { get; init; }

    /// <summary>Stale (local) reads the clients completed.</summary>
    public int StaleReads { get; init; }

    /// <summary>Requests clients sent again after a timeout (lost request or reply, crashed node).</summary>
    public int ClientRetries { get; init; }

    /// <summary>Client writes that found their session expired (unknown outcome; the client registered again).</summary>
    public int SessionsExpired { get; init; }

    /// <summary>Keys whose linearizability search exceeded its budget (neither passed nor failed).</summary>
    public int KeysGivenUp { get; init; }

    /// <summary>Chunked InstallSnapshot transfers completed (WAL storage), and chunks or receipts lost on the way.</summary>
    public int SnapshotTransfers { get; init; }

    public int SnapshotChunksLost { get; init; }

    public int SnapshotTransfersResumed { get; init; }

    /// <summary>Leadership changes a node learned of while requests were pending on it (each checked by the fail-fast checker).</summary>
    public int FailFastChecks { get; init; }

    /// <summary>A digest of every node's role, term, commit and applied index after every event: equal for two runs of one seed.</summary>
    public ulong TraceHash { get; init; }

    /// <summary>The one-line command that replays this run exactly.</summary>
    public string ReplayCommand =>
        $"dotnet run -c Release --project Tests/RaftKv.Simulator -- --seed {Seed}" +
        (Options.Bug != SimulatedBug.None ? $" --bug {Options.Bug}" : "") +
        (Options.Storage != SimulatedStorageKind.Memory ? $" --storage {Options.Storage}" : "");
}
