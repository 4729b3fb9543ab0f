namespace RaftKv.Chaos.Cluster;

/// <summary>One silo of the chaos cluster: where it listens, where it keeps data, and its fault handles.</summary>
public sealed record ChaosNode
{
    public required int Id { get; init; }

    /// <summary>The IP address the node listens on (its namespace's address, or 127.0.0.1).</summary>
    public required string Address { get; init; }

    public required string ClientAddress { get; init; }

    public required string PeerAddress { get; init; }

    public required string DataDirectory { get; init; }

    /// <summary>The libfaketime timestamp file of this node (its contents are the clock offset), or null without faketime.</summary>
    public string? ClockFile { get; init; }

    public required string LogFile { get; init; }
}
