namespace RaftKv.Chaos.Faults;

public enum FaultKind
{
    /// <summary>kill -9 of a random node, restarted when the fault heals.</summary>
    KillNode,
    KillLeader,

    /// <summary>kill -9 of every node at once; all restart together.</summary>
    KillAll,

    /// <summary>SIGSTOP, then SIGCONT when the fault heals.</summary>
    PauseNode,
    PauseLeader,

    /// <summary>A random minority cut off from the majority, both ways.</summary>
    PartitionMajorityMinority,

    /// <summary>The leader cut off from every other node, both ways.</summary>
    IsolateLeader,

    /// <summary>Two sides that cannot talk, and one node (the bridge) that talks to both.</summary>
    Bridge,

    /// <summary>One direction only: a random node's packets to the others are dropped (the node still hears them).</summary>
    OneWay,

    /// <summary>One node's clocks (realtime and monotonic, via libfaketime) jump forward or back, then jump back to true time.</summary>
    ClockSkew,

    /// <summary>One node's data disk (a tmpfs) filled to the last byte, then freed.</summary>
    DiskFull,

    /// <summary>Leadership moved to a random follower through the admin API (Raft thesis 3.10); nothing to heal.</summary>
    TransferLeader,

    /// <summary>
    /// A random member (the leader too) removed from the configuration and left running while the fault holds; on
    /// heal it is killed, its disk wiped, and it rejoins as a new learner (<c>RaftKv:Join</c>) and is promoted once
    /// caught up, as an operator replaces a failed machine.
    /// </summary>
    ReplaceMember,
}

public static class FaultKinds
{
    public static bool NeedsNetwork(this FaultKind kind) => kind is FaultKind.PartitionMajorityMinority or FaultKind.IsolateLeader or FaultKind.Bridge or FaultKind.OneWay;

    public static string Name(this FaultKind kind) => kind switch
    {
        FaultKind.KillNode => "kill",
        FaultKind.KillLeader => "kill-leader",
        FaultKind.KillAll => "kill-all",
        FaultKind.PauseNode => "pause",
        FaultKind.PauseLeader => "pause-leader",
        FaultKind.PartitionMajorityMinority => "partition",
        FaultKind.IsolateLeader => "isolate-leader",
        FaultKind.Bridge => "bridge",
        FaultKind.OneWay => "one-way",
        FaultKind.ClockSkew => "clock",
        FaultKind.DiskFull => "disk-full",
        FaultKind.TransferLeader => "transfer-leader",
        FaultKind.ReplaceMember => "replace-member",
        _ => kind.ToString(),
    };

    public static FaultKind Parse(string name) =>
        Enum.GetValues<FaultKind>().FirstOrDefault(k => k.Name() == name, (FaultKind)(-1)) is var kind && (int)kind >= 0
            ? kind
            : throw new ArgumentException($"unknown fault kind '{name}'; known: {string.Join(", ", Enum.GetValues<FaultKind>().Select(k => k.Name()))}");
}
