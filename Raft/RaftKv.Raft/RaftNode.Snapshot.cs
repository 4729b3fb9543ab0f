namespace RaftKv.Raft;

public sealed partial class RaftNode
{
    /// <summary>
    /// Every configuration the log still holds, oldest first, starting with the snapshot's. Raft thesis 4.1: a
    /// server uses the latest configuration in its log, committed or not, so truncating the log can revert it.
    /// Invariant: non-empty; indices strictly increase; the first is the snapshot's.
    /// </summary>
    private readonly List<(ulong Index, ClusterConfiguration Configuration)> _configurationHistory = [];

    /// <summary>
    /// Describes a snapshot the driver is about to take (or took) at <paramref name="index"/>: its term and the
    /// configuration in force there. <paramref name="index"/> must be applied and not yet compacted.
    /// </summary>
    public SnapshotMetadata DescribeSnapshot(ulong index)
    {
        Invariant.Check(index >= _log.SnapshotIndex && index <= _log.Applied, $"snapshot index {index} outside [{_log.SnapshotIndex}, {_log.Applied}]");
        ulong term = _log.TermAt(index)!.Value;
        ClusterConfiguration configuration = _configurationHistory.Last(c => c.Index <= index).Configuration;
        return new SnapshotMetadata(index, term, configuration);
    }

    /// <summary>
    /// Tells the core that a snapshot covering <paramref name="snapshot"/> is durable, so entries through its
    /// index may be forgotten. Followers that need them will be sent the snapshot instead.
    /// </summary>
    public void CompactLog(SnapshotMetadata snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Index <= _log.SnapshotIndex) return;
        _log.Compact(snapshot);
        int superseded = _configurationHistory.FindLastIndex(c => c.Index <= snapshot.Index);
        _configurationHistory.RemoveRange(0, superseded);
        _configurationHistory[0] = (snapshot.Index, _configurationHistory[0].Configuration);
    }

    /// <summary>The driver could not deliver a snapshot to <paramref name="member"/>; probe again later.</summary>
    public void ReportSnapshotFailure(ulong member)
    {
        if (Role == RaftRole.Leader && _progress.TryGetValue(member, out Progress? progress) && progress.State == ProgressState.Snapshot)
        {
            progress.BecomeProbe(progress.Match + 1);
            progress.ProbeSent = true; // wait for the next heartbeat reply before trying again
        }
    }

    private void HandleInstallSnapshot(Message request)
    {
        SnapshotMetadata snapshot = request.Snapshot ?? throw new RaftInvariantException("InstallSnapshot without metadata");
        if (snapshot.Index <= _log.Committed)
        {
            Send(AppendResponse(request.From, match: _log.Committed));
            return;
        }
        if (_log.MatchTerm(snapshot.Index, snapshot.Term))
        {
            // We already hold the entries the snapshot covers: just learn that they are committed.
            _log.CommitTo(snapshot.Index);
            Send(AppendResponse(request.From, match: snapshot.Index));
            return;
        }
        // Raft thesis 5.3: the snapshot replaces our whole log and state machine.
        _log.Restore(snapshot);
        _configurationHistory.Clear();
        _configurationHistory.Add((snapshot.Index, snapshot.Configuration));
        _receivedSnapshot = snapshot;
        Send(AppendResponse(request.From, match: snapshot.Index));
    }

    private void OnConfigurationAppended(LogEntry entry)
    {
        _configurationHistory.Add((entry.Index, ClusterConfiguration.Decode(entry.Data.Span)));
        if (Role == RaftRole.Leader)
        {
            SyncProgressWithConfiguration();
            if (_transferTarget != 0 && !Configuration.IsVoter(_transferTarget)) AbortTransfer();
        }
    }

    private void OnLogTruncated(ulong index)
    {
        while (_configurationHistory.Count > 1 && _configurationHistory[^1].Index >= index)
        {
            _configurationHistory.RemoveAt(_configurationHistory.Count - 1);
        }
    }

    private void RebuildConfigurationHistory()
    {
        _configurationHistory.Clear();
        _configurationHistory.Add((_log.SnapshotIndex, _log.Snapshot.Configuration));
        foreach (LogEntry entry in _log.Entries)
        {
            if (entry.Type == EntryType.Configuration)
            {
                _configurationHistory.Add((entry.Index, ClusterConfiguration.Decode(entry.Data.Span)));
            }
        }
    }

    private void SyncProgressWithConfiguration()
    {
        foreach (ulong member in Configuration.AllMembers)
        {
            if (member != Id && !_progress.ContainsKey(member))
            {
                _progress[member] = new Progress(_log.LastIndex + 1, _options.MaxInflightMessages) { RecentActive = true };
            }
        }
        foreach (ulong member in _progress.Keys.Where(m => !Configuration.IsMember(m)).ToArray())
        {
            _progress.Remove(member);
        }
    }
}
