using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using RaftKv.Node;

namespace RaftKv.Grains;

/// <summary>
/// Which silo hosts which Raft node: every silo publishes its node id through its RaftNode grain service
/// (<see cref="IRaftNodeService.GetStatusAsync"/>), and this per-silo cache asks each active silo once. Entries are
/// keyed by <see cref="SiloAddress"/>, which includes the silo's generation, so a restarted silo is asked again and a
/// dead one drops out with the membership snapshot.
/// </summary>
public sealed partial class RaftNodeDirectory(
    IClusterMembershipService membership, ILocalSiloDetails localSilo, IRaftKvNode localNode, IRaftNodeServiceClient services,
    ILogger<RaftNodeDirectory> logger)
{
    /// <summary>How long one silo gets to answer "which node do you host".</summary>
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<SiloAddress, ulong> _nodeIds = new();

    public SiloAddress LocalSilo => localSilo.SiloAddress;

    /// <summary>The active silo that hosts Raft node <paramref name="nodeId"/>, or null if none is known now.</summary>
    public async ValueTask<SiloAddress?> FindSiloAsync(ulong nodeId)
    {
        if (nodeId == 0) return null;
        if (nodeId == localNode.NodeId) return localSilo.SiloAddress;
        var active = new List<SiloAddress>();
        foreach (ClusterMember member in membership.CurrentSnapshot.Members.Values)
        {
            if (member.Status == SiloStatus.Active) active.Add(member.SiloAddress);
            else if (member.Status == SiloStatus.Dead) _nodeIds.TryRemove(member.SiloAddress, out _);
        }
        foreach (SiloAddress silo in active)
        {
            if (_nodeIds.TryGetValue(silo, out ulong known) && known == nodeId) return silo;
        }
        foreach (SiloAddress silo in active)
        {
            if (silo.Equals(localSilo.SiloAddress) || _nodeIds.ContainsKey(silo)) continue;
            try
            {
                RaftNodeStatus status = await services.On(silo).GetStatusAsync().WaitAsync(AskTimeout).ConfigureAwait(true);
                _nodeIds[silo] = status.NodeId;
                LogLearned(logger, silo, status.NodeId);
                if (status.NodeId == nodeId) return silo;
            }
            catch (Exception e) when (e is TimeoutException or OrleansException or RaftKvException)
            {
                LogAskFailed(logger, silo, e.Message);
            }
        }
        return null;
    }

    /// <summary>
    /// The <paramref name="index"/>-th active silo (modulo their number), or null if none: whom to ask when no leader
    /// is known locally. A follower answers a proposal with a leader hint without proposing anything, so asking
    /// around finds the leader even from a node cut off from its peers.
    /// </summary>
    public SiloAddress? ActiveSilo(int index)
    {
        var active = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress)
            .OrderBy(a => a.ToString(), StringComparer.Ordinal)
            .ToList();
        return active.Count == 0 ? null : active[(int)((uint)index % (uint)active.Count)];
    }

    /// <summary>Forgets what <paramref name="silo"/> hosts (it did not answer); it is asked again next time.</summary>
    public void Forget(SiloAddress silo) => _nodeIds.TryRemove(silo, out _);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Silo {Silo} hosts Raft node {NodeId}")]
    private static partial void LogLearned(ILogger logger, SiloAddress silo, ulong nodeId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Silo {Silo} did not say which Raft node it hosts: {Reason}")]
    private static partial void LogAskFailed(ILogger logger, SiloAddress silo, string reason);
}
