using RaftKv.Chaos.Cluster;
using RaftKv.Client.Protos;

namespace RaftKv.Chaos.Faults;

/// <summary>
/// Carries out the fault schedule against a <see cref="ChaosCluster"/>: apply a fault, hold it, heal it, make sure
/// every node runs again, stay quiet, repeat. Every step lands on the <see cref="FaultTimeline"/>.
/// </summary>
public sealed class Nemesis(ChaosCluster cluster, FaultTimeline timeline)
{
    private static readonly TimeSpan AdminTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan RejoinTimeout = TimeSpan.FromSeconds(90);
    private readonly Dictionary<string, int> _counts = [];

    /// <summary>Replaced nodes not yet voters again (their rejoin timed out): the final heal finishes them.</summary>
    private readonly HashSet<int> _rejoining = [];

    /// <summary>How many faults of each kind were injected.</summary>
    public IReadOnlyDictionary<string, int> Counts
    {
        get { lock (_counts) return new Dictionary<string, int>(_counts); }
    }

    public async Task RunAsync(FaultSchedule schedule, CancellationToken stop)
    {
        foreach (PlannedFault fault in schedule.Plan())
        {
            if (stop.IsCancellationRequested) return;
            Func<Task>? heal = null;
            try
            {
                heal = await ApplyAsync(fault, stop).ConfigureAwait(false);
                if (heal is not null)
                {
                    lock (_counts) _counts[fault.Kind.Name()] = _counts.GetValueOrDefault(fault.Kind.Name()) + 1;
                    await Hold(fault.DurationMs, stop).ConfigureAwait(false);
                }
            }
            finally
            {
                if (heal is not null) await heal().ConfigureAwait(false);
                RestartStopped("after " + fault.Kind.Name());
            }
            await Hold(fault.QuietMs, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Undoes every fault: resume, heal the network, true clocks, free disks, restart what is not running.</summary>
    public void HealEverything()
    {
        foreach (ChaosNode node in cluster.Nodes)
        {
            if (cluster.IsPaused(node.Id)) cluster.Resume(node.Id);
            if (cluster.ClockFaultsSupported) cluster.SetClockOffset(node.Id, 0);
            if (cluster.DiskFaultsSupported) cluster.FreeDisk(node.Id);
        }
        cluster.Network?.HealAll();
        RestartStopped("final heal");
        timeline.Add(FaultPhase.Heal, "all", "every fault healed");
    }

    /// <summary>
    /// Makes every replaced node a voter again (after <see cref="HealEverything"/>), so the run ends with the
    /// configuration it started with and every node can be compared. Returns false if one could not be.
    /// </summary>
    public async Task<bool> RestoreMembershipAsync()
    {
        bool all = true;
        foreach (int id in _rejoining.ToArray()) all &= await RejoinAsync(id, "final heal").ConfigureAwait(false);
        return all;
    }

    /// <summary>Starts every node that is not running (killed, or exited by itself, e.g. fail-stop on a full disk).</summary>
    public void RestartStopped(string why)
    {
        foreach (ChaosNode node in cluster.Nodes.Where(n => !cluster.IsRunning(n.Id)))
        {
            cluster.Start(node.Id);
            timeline.Add(FaultPhase.Note, "restart", $"node {node.Id} was not running; restarted ({why})");
        }
    }

    private static async Task Hold(int ms, CancellationToken stop)
    {
        try
        {
            await Task.Delay(ms, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Applies the fault and returns how to heal it, or null when it could not be applied now (e.g. no leader).</summary>
    private async Task<Func<Task>?> ApplyAsync(PlannedFault fault, CancellationToken stop)
    {
        var random = new Random(fault.ChoiceSeed);
        int n = cluster.Nodes.Count;
        int RandomNode() => random.Next(1, n + 1);
        string kind = fault.Kind.Name();

        async Task<int?> Leader()
        {
            int? leader = await cluster.LeaderAsync(stop).ConfigureAwait(false);
            if (leader is null) timeline.Add(FaultPhase.Note, kind, "skipped: no leader known");
            return leader;
        }

        switch (fault.Kind)
        {
            case FaultKind.KillNode:
            case FaultKind.KillLeader:
            {
                int? target = fault.Kind == FaultKind.KillLeader ? await Leader().ConfigureAwait(false) : RandomNode();
                if (target is not { } id) return null;
                cluster.Kill(id);
                timeline.Add(FaultPhase.Start, kind, $"kill -9 node {id}");
                return () =>
                {
                    cluster.Start(id);
                    timeline.Add(FaultPhase.Heal, kind, $"restarted node {id}");
                    return Task.CompletedTask;
                };
            }
            case FaultKind.KillAll:
            {
                foreach (ChaosNode node in cluster.Nodes) cluster.Kill(node.Id);
                timeline.Add(FaultPhase.Start, kind, "kill -9 every node");
                return () =>
                {
                    foreach (ChaosNode node in cluster.Nodes) cluster.Start(node.Id);
                    timeline.Add(FaultPhase.Heal, kind, "restarted every node");
                    return Task.CompletedTask;
                };
            }
            case FaultKind.PauseNode:
            case FaultKind.PauseLeader:
            {
                int? target = fault.Kind == FaultKind.PauseLeader ? await Leader().ConfigureAwait(false) : RandomNode();
                if (target is not { } id) return null;
                cluster.Pause(id);
                timeline.Add(FaultPhase.Start, kind, $"SIGSTOP node {id}");
                return () =>
                {
                    cluster.Resume(id);
                    timeline.Add(FaultPhase.Heal, kind, $"SIGCONT node {id}");
                    return Task.CompletedTask;
                };
            }
            case FaultKind.PartitionMajorityMinority:
            {
                var shuffled = Enumerable.Range(1, n).OrderBy(_ => random.Next()).ToList();
                int minoritySize = random.Next(1, (n - 1) / 2 + 1);
                var minority = shuffled.Take(minoritySize).Order().ToList();
                var majority = shuffled.Skip(minoritySize).Order().ToList();
                return Split(kind, minority, majority, $"minority [{string.Join(",", minority)}] | majority [{string.Join(",", majority)}]");
            }
            case FaultKind.IsolateLeader:
            {
                if (await Leader().ConfigureAwait(false) is not { } leader) return null;
                var others = Enumerable.Range(1, n).Where(id => id != leader).ToList();
                return Split(kind, [leader], others, $"leader {leader} | [{string.Join(",", others)}]");
            }
            case FaultKind.Bridge:
            {
                // Nodes in a shuffled line: the middle node is the bridge, each side sees only its half and the bridge.
                var shuffled = Enumerable.Range(1, n).OrderBy(_ => random.Next()).ToList();
                int bridge = shuffled[n / 2];
                var left = shuffled.Take(n / 2).ToList();
                var right = shuffled.Skip(n / 2 + 1).ToList();
                return Split(kind, left, right, $"[{string.Join(",", left)}] <- {bridge} -> [{string.Join(",", right)}]");
            }
            case FaultKind.OneWay:
            {
                // Prefer the leader as the sender: its heartbeats vanish while it still hears everyone.
                int sender = random.Next(2) == 0 && await cluster.LeaderAsync(stop).ConfigureAwait(false) is { } leader ? leader : RandomNode();
                if (cluster.Network is not { } network) return null;
                foreach (int to in Enumerable.Range(1, n).Where(id => id != sender)) network.Cut(sender, to);
                timeline.Add(FaultPhase.Start, kind, $"packets from node {sender} to every other node dropped (one way)");
                return HealNetwork(kind);
            }
            case FaultKind.ClockSkew:
            {
                int id = RandomNode();
                int offset = (random.Next(2) == 0 ? 1 : -1) * random.Next(5, 121);
                cluster.SetClockOffset(id, offset);
                timeline.Add(FaultPhase.Start, kind, $"node {id} clocks jump by {offset:+0;-0} s");
                return () =>
                {
                    cluster.SetClockOffset(id, 0);
                    timeline.Add(FaultPhase.Heal, kind, $"node {id} clocks jump back to true time");
                    return Task.CompletedTask;
                };
            }
            case FaultKind.DiskFull:
            {
                int id = RandomNode();
                long bytes = cluster.FillDisk(id);
                timeline.Add(FaultPhase.Start, kind, $"node {id} data disk filled ({bytes / (1024 * 1024)} MiB written)");
                return () =>
                {
                    cluster.FreeDisk(id);
                    timeline.Add(FaultPhase.Heal, kind, $"node {id} data disk freed" + (cluster.IsRunning(id) ? "" : " (node had stopped)"));
                    return Task.CompletedTask;
                };
            }
            case FaultKind.TransferLeader:
            {
                if (await Leader().ConfigureAwait(false) is not { } leader) return null;
                int[] followers = [.. Enumerable.Range(1, n).Where(id => id != leader && cluster.IsRunning(id) && !cluster.IsPaused(id))];
                if (followers.Length == 0)
                {
                    timeline.Add(FaultPhase.Note, kind, "skipped: no running follower");
                    return null;
                }
                int target = followers[random.Next(followers.Length)];
                timeline.Add(FaultPhase.Start, kind, $"leadership transfer from node {leader} to node {target}");
                MembershipResponse? moved = await AdminAsync(kind, $"transfer to node {target}", (admin, t) => admin.LeaderTransferAsync((ulong)target, t)).ConfigureAwait(false);
                if (moved is not null) timeline.Add(FaultPhase.Note, kind, $"node {moved.LeaderId} leads in term {moved.Term}");
                return () => Task.CompletedTask; // nothing to undo
            }
            case FaultKind.ReplaceMember:
            {
                MembershipResponse? members = await AdminAsync(kind, "list members", (admin, t) => admin.MemberListAsync(t)).ConfigureAwait(false);
                if (members is null) return null;
                if (members.Members.Count(m => m.Voter) < n)
                {
                    timeline.Add(FaultPhase.Note, kind, "skipped: not every node is a voter");
                    return null;
                }
                int target = RandomNode();
                string role = members.LeaderId == (ulong)target ? " (the leader)" : "";
                if (await AdminAsync(kind, $"remove node {target}", (admin, t) => admin.MemberRemoveAsync((ulong)target, t)).ConfigureAwait(false) is null)
                {
                    // A failed removal may still have been committed (the leader changed after proposing it): then the
                    // node is out of the configuration and must be healed like a removed one, or it stays out for good.
                    MembershipResponse? after = null;
                    for (var settle = System.Diagnostics.Stopwatch.StartNew(); after is null && settle.Elapsed < RejoinTimeout;)
                    {
                        after = await AdminAsync(kind, "list members", (admin, t) => admin.MemberListAsync(t)).ConfigureAwait(false);
                        if (after is null) await Task.Delay(200).ConfigureAwait(false); // until a leader answers
                    }
                    if (after is null || after.Members.Any(m => m.Id == (ulong)target && m.Voter)) return null;
                    timeline.Add(FaultPhase.Note, kind, $"the failed removal of node {target} was applied nonetheless");
                }
                timeline.Add(FaultPhase.Start, kind, $"node {target}{role} removed from the configuration and left running");
                return async () =>
                {
                    // A removed node must not disrupt the others while it runs (no elections); now it goes, as a failed
                    // machine would, and comes back empty under the same id.
                    cluster.Kill(target);
                    cluster.WipeAndJoin(target);
                    cluster.Start(target);
                    timeline.Add(FaultPhase.Heal, kind, $"node {target} killed, its disk wiped, restarted to join as a learner");
                    _rejoining.Add(target);
                    await RejoinAsync(target, kind).ConfigureAwait(false);
                };
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(fault), fault.Kind, "unknown fault kind");
        }
    }

    /// <summary>One admin call with its own deadline (not the run's stop: heals must finish); null, noted, on failure.</summary>
    private async Task<MembershipResponse?> AdminAsync(string kind, string what, Func<Client.RaftKvClient, CancellationToken, Task<MembershipResponse>> call)
    {
        using var deadline = new CancellationTokenSource(AdminTimeout);
        try
        {
            return await call(cluster.Admin, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            timeline.Add(FaultPhase.Note, kind, $"{what} failed: {e.GetType().Name}: {e.Message}");
            return null;
        }
    }

    /// <summary>
    /// Waits for a wiped node's join (it asks to be added as a learner itself) and promotes it once it has caught up
    /// (promotion is refused while it lags): true when it is a voter again.
    /// </summary>
    private async Task<bool> RejoinAsync(int id, string kind)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        string last = "no answer";
        while (deadline.Elapsed < RejoinTimeout)
        {
            // The join and the promotion need a quorum. A node that exited by itself meanwhile (a silo Orleans declared
            // dead exits with 75 for its supervisor to restart it) is restarted, as systemd's Restart=on-failure would:
            // otherwise a two-voter configuration missing that node waits out the whole timeout (seed 2026, 93 s).
            RestartStopped($"the rejoin of node {id} needs a quorum");
            using var attempt = new CancellationTokenSource(AdminTimeout);
            try
            {
                MembershipResponse members = await cluster.Admin.MemberListAsync(attempt.Token).ConfigureAwait(false);
                Member? member = members.Members.FirstOrDefault(m => m.Id == (ulong)id);
                if (member is { Voter: true })
                {
                    _rejoining.Remove(id);
                    timeline.Add(FaultPhase.Heal, kind, $"node {id} is a voter again after {deadline.Elapsed.TotalSeconds:F1} s");
                    return true;
                }
                if (member is null)
                {
                    last = "not a member yet (its join is pending)";
                }
                else
                {
                    await cluster.Admin.MemberPromoteAsync((ulong)id, attempt.Token).ConfigureAwait(false);
                    continue; // the next listing shows it as a voter
                }
            }
            catch (Exception e)
            {
                last = $"{e.GetType().Name}: {e.Message}";
            }
            await Task.Delay(500).ConfigureAwait(false);
        }
        timeline.Add(FaultPhase.Note, kind, $"node {id} is not a voter again after {RejoinTimeout.TotalSeconds:F0} s: {last}");
        return false;
    }

    private Func<Task>? Split(string kind, IReadOnlyList<int> a, IReadOnlyList<int> b, string detail)
    {
        if (cluster.Network is not { } network) return null;
        foreach (int x in a)
        {
            foreach (int y in b) network.CutBothWays(x, y);
        }
        timeline.Add(FaultPhase.Start, kind, detail);
        return HealNetwork(kind);
    }

    private Func<Task> HealNetwork(string kind) => () =>
    {
        cluster.Network!.HealAll();
        timeline.Add(FaultPhase.Heal, kind, "network healed");
        return Task.CompletedTask;
    };
}
