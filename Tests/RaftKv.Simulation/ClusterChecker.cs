using RaftKv.Raft;

namespace RaftKv.Simulation;

/// <summary>
/// Safety checks that live outside the replicas and run after every simulated event (TigerBeetle-style). They see
/// every node's state and remember history the nodes themselves may have lost in crashes.
/// </summary>
public sealed class ClusterChecker
{
    private readonly Dictionary<ulong, ulong> _leaderByTerm = [];
    private readonly Dictionary<ulong, (ulong Term, ulong Hash)> _committed = [];
    private readonly Dictionary<ulong, (ulong Term, ulong Hash)> _applied = [];
    private readonly Dictionary<(ulong Index, ulong Term), ulong> _entryHashes = [];
    private readonly Dictionary<ulong, ulong> _commitSeen = [];
    private readonly Dictionary<ulong, RaftRole> _roleSeen = [];
    private readonly Dictionary<ulong, HardState> _durableHardState = [];
    private readonly List<string> _violations = [];

    public IReadOnlyList<string> Violations => _violations;

    public int Elections { get; private set; }

    public ulong MaxCommitted { get; private set; }

    public long NowMs { get; set; }

    public void Violation(string text)
    {
        if (_violations.Count < 20) _violations.Add($"t={NowMs}ms {text}");
    }

    public static ulong Hash(LogEntry entry)
    {
        ulong hash = 14695981039346656037UL ^ (ulong)entry.Type;
        foreach (byte b in entry.Data.Span) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    /// <summary>Runs after every event that touched <paramref name="node"/>.</summary>
    public void AfterEvent(ulong nodeId, RaftNode node)
    {
        // Election safety (Raft thesis 3.6.3): at most one leader per term.
        if (node.Role == RaftRole.Leader)
        {
            if (_leaderByTerm.TryGetValue(node.Term, out ulong leader) && leader != nodeId)
            {
                Violation($"election safety: nodes {leader} and {nodeId} are both leaders of term {node.Term}");
            }
            _leaderByTerm[node.Term] = nodeId;
            if (_roleSeen.GetValueOrDefault(nodeId) != RaftRole.Leader)
            {
                Elections++;
                CheckLeaderCompleteness(nodeId, node);
            }
        }
        _roleSeen[nodeId] = node.Role;
        CheckConfiguration(nodeId, node);

        // Commit never moves back within an incarnation, and no two nodes commit different entries at one index.
        RaftLog log = node.Log;
        ulong seen = _commitSeen.GetValueOrDefault(nodeId);
        if (log.Committed < seen)
        {
            Violation($"commit index of node {nodeId} moved back from {seen} to {log.Committed}");
        }
        for (ulong index = Math.Max(seen + 1, log.FirstIndex); index <= log.Committed; index++)
        {
            LogEntry entry = log.EntryAt(index);
            Record(_committed, "committed", nodeId, index, entry.Term, Hash(entry));
        }
        _commitSeen[nodeId] = Math.Max(seen, log.Committed);
        MaxCommitted = Math.Max(MaxCommitted, log.Committed);
    }

    /// <summary>
    /// Membership (Raft thesis 4.1, 4.2.3): a leader's log holds at most one uncommitted configuration entry, so
    /// old and new majorities always overlap; and a node that knows it is not a voter never campaigns.
    /// </summary>
    private void CheckConfiguration(ulong nodeId, RaftNode node)
    {
        // A node whose own removal is not committed yet may campaign to finish it (thesis 4.2.2, RaftNode.MayCampaign).
        if (node.Role is RaftRole.PreCandidate or RaftRole.Candidate && !node.Configuration.IsVoter(nodeId) &&
            !(node.HasUncommittedConfiguration && node.CommittedConfiguration.IsVoter(nodeId)))
        {
            Violation($"membership: node {nodeId} campaigns in term {node.Term} but is not a voter in {node.Configuration}");
        }
        if (node.Role != RaftRole.Leader) return;
        RaftLog log = node.Log;
        int uncommitted = 0;
        for (ulong index = log.LastIndex; index > log.Committed && index > log.SnapshotIndex; index--)
        {
            LogEntry entry = log.EntryAt(index);
            // Uncommitted in the cluster, not only in this node's view: a restarted node's commit index is a
            // recovery hint that may lag (the driver does not fsync a hard state whose only change is the commit
            // index), so a new leader can hold changes the cluster committed long ago above its own commit index.
            if (entry.Type == EntryType.Configuration && !(_committed.TryGetValue(index, out var known) && known.Term == entry.Term)) uncommitted++;
        }
        if (uncommitted > 1)
        {
            Violation($"membership: leader {nodeId} of term {node.Term} holds {uncommitted} uncommitted configuration changes");
        }
    }

    /// <summary>Leader completeness (Raft thesis 3.6.3): a new leader holds every entry ever committed.</summary>
    private void CheckLeaderCompleteness(ulong nodeId, RaftNode node)
    {
        RaftLog log = node.Log;
        foreach ((ulong index, (ulong term, ulong hash)) in _committed)
        {
            if (index <= log.SnapshotIndex) continue;
            if (index > log.LastIndex || log.TermAt(index) != term || Hash(log.EntryAt(index)) != hash)
            {
                Violation($"leader completeness: leader {nodeId} of term {node.Term} lacks committed entry {index}@{term}");
                return;
            }
        }
    }

    /// <summary>Log matching, part one: entries with the same index and term carry the same data, everywhere.</summary>
    public void OnEntriesPersisted(ulong nodeId, IReadOnlyList<LogEntry> entries)
    {
        foreach (LogEntry entry in entries)
        {
            ulong hash = Hash(entry);
            if (_entryHashes.TryGetValue((entry.Index, entry.Term), out ulong known))
            {
                if (known != hash) Violation($"log matching: node {nodeId} holds a different entry {entry.Index}@{entry.Term}");
            }
            else
            {
                _entryHashes[(entry.Index, entry.Term)] = hash;
            }
        }
    }

    /// <summary>State machine safety (Raft thesis 3.6.3): no two nodes apply different commands at one index.</summary>
    public void OnApplied(ulong nodeId, LogEntry entry)
    {
        ulong hash = Hash(entry);
        Record(_applied, "applied", nodeId, entry.Index, entry.Term, hash);
        if (_committed.TryGetValue(entry.Index, out var committed) && committed != (entry.Term, hash))
        {
            Violation($"state machine safety: node {nodeId} applied {entry.Index}@{entry.Term}, but {entry.Index}@{committed.Term} was committed");
        }
    }

    /// <summary>A restarted node must come back with at least the term and vote it made durable before.</summary>
    public void OnDurableHardState(ulong nodeId, HardState hardState) => _durableHardState[nodeId] = hardState;

    public void OnRestart(ulong nodeId, HardState recovered)
    {
        _commitSeen[nodeId] = 0;
        _roleSeen[nodeId] = RaftRole.Follower;
        if (_durableHardState.TryGetValue(nodeId, out HardState durable) &&
            (recovered.Term < durable.Term || (recovered.Term == durable.Term && recovered.Vote != durable.Vote)))
        {
            Violation($"durability: node {nodeId} restarted with {recovered}, but had made {durable} durable");
        }
    }

    /// <summary>Log matching, part two: if two logs hold an entry with the same index and term, all before it match.</summary>
    public void CheckLogMatching(IReadOnlyList<(ulong Id, RaftNode Node)> nodes)
    {
        for (int a = 0; a < nodes.Count; a++)
        {
            for (int b = a + 1; b < nodes.Count; b++)
            {
                RaftLog left = nodes[a].Node.Log, right = nodes[b].Node.Log;
                ulong from = Math.Max(left.FirstIndex, right.FirstIndex);
                ulong to = Math.Min(left.LastIndex, right.LastIndex);
                bool matchedAbove = false;
                for (ulong index = to; index >= from && index > 0; index--)
                {
                    LogEntry l = left.EntryAt(index), r = right.EntryAt(index);
                    if (l.Term == r.Term)
                    {
                        matchedAbove = true;
                        if (Hash(l) != Hash(r)) Violation($"log matching: nodes {nodes[a].Id} and {nodes[b].Id} differ at {index}@{l.Term}");
                    }
                    else if (matchedAbove)
                    {
                        Violation($"log matching: nodes {nodes[a].Id} and {nodes[b].Id} agree above {index} but differ at it");
                        break;
                    }
                }
            }
        }
    }

    private void Record(Dictionary<ulong, (ulong Term, ulong Hash)> oracle, string what, ulong nodeId, ulong index, ulong term, ulong hash)
    {
        if (oracle.TryGetValue(index, out var known))
        {
            if (known != (term, hash)) Violation($"{what} entry mismatch: node {nodeId} has {index}@{term}, another node {what} {index}@{known.Term}");
        }
        else
        {
            oracle[index] = (term, hash);
        }
    }
}
