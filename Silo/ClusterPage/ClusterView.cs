using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;
using RaftKv.Client.Protos;
using RaftKv.Node;
using RaftKv.Raft;

namespace RaftKv.Silo.ClusterPage;

/// <summary>
/// The data behind the cluster page (<c>/cluster.json</c>): every member's status as that member reports it (asked over
/// its client port, a second at most), the applied lag of each against the leader's commit index, and this node's
/// journal of leader changes, elections and recent problems.
/// </summary>
public sealed class ClusterView(IRaftKvNode node, ClusterJournal journal, RecentProblems problems, TimeProvider time, IConfiguration configuration) : IDisposable
{
    private static readonly TimeSpan MemberTimeout = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new();

    public async Task<ClusterSnapshot> SnapshotAsync(CancellationToken cancellationToken)
    {
        RaftStatus self = node.Status; // throws UnavailableException while the node is not running
        ulong[] ids = [.. self.Configuration.AllMembers.Order()];
        MemberView[] members = await Task.WhenAll(ids.Select(id => MemberAsync(self, id, cancellationToken))).ConfigureAwait(false);
        ulong leaderCommit = members.FirstOrDefault(m => m.Role == nameof(Role.Leader))?.CommitIndex ?? 0;
        if (leaderCommit > 0)
        {
            members = [.. members.Select(m => m.Reachable ? m with { AppliedLag = leaderCommit > m.AppliedIndex ? leaderCommit - m.AppliedIndex : 0 } : m)];
        }
        (IReadOnlyList<ClusterJournal.JournalEntry> leaders, IReadOnlyList<ClusterJournal.JournalEntry> events) = journal.Snapshot();
        return new ClusterSnapshot(
            time.GetUtcNow(), self.NodeId, self.Term, self.Leader, configuration.GetValue<bool>("RaftKv:Orleans:Dashboard"), members,
            [.. leaders.Select(e => new JournalView(e.At, e.Term, e.Leader, e.Text))],
            [.. events.Select(e => new JournalView(e.At, e.Term, e.Leader, e.Text))],
            [.. problems.Snapshot().Select(p => new ProblemView(p.At, p.Level, p.Category, p.Message))]);
    }

    private async Task<MemberView> MemberAsync(RaftStatus self, ulong id, CancellationToken cancellationToken)
    {
        string address = node.ClientAddressOf(id) ?? "";
        bool voter = self.Configuration.IsVoter(id);
        if (id == self.NodeId)
        {
            return new MemberView(id, address, voter, true, self.Role.ToString(), self.Term, self.Leader, self.CommitIndex, self.AppliedIndex, null, null);
        }
        if (address.Length == 0) return Unreachable(id, address, voter, "no client address known");
        try
        {
            GrpcChannel channel = _channels.GetOrAdd(address, static a => GrpcChannel.ForAddress(a));
            StatusResponse status = await new KV.KVClient(channel)
                .StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow + MemberTimeout, cancellationToken: cancellationToken).ConfigureAwait(false);
            return new MemberView(id, address, voter, true, status.Role.ToString(), status.Term, status.LeaderId, status.CommitIndex, status.AppliedIndex, null, null);
        }
        catch (RpcException e)
        {
            return Unreachable(id, address, voter, $"{e.StatusCode}: {e.Status.Detail}");
        }
    }

    private static MemberView Unreachable(ulong id, string address, bool voter, string problem) =>
        new(id, address, voter, false, "unreachable", 0, 0, 0, 0, null, problem);

    public void Dispose()
    {
        foreach (GrpcChannel channel in _channels.Values) channel.Dispose();
    }
}

public sealed record ClusterSnapshot(
    [property: JsonPropertyName("generated_at")] DateTimeOffset GeneratedAt,
    [property: JsonPropertyName("node_id")] ulong NodeId,
    [property: JsonPropertyName("term")] ulong Term,
    [property: JsonPropertyName("leader_id")] ulong LeaderId,
    [property: JsonPropertyName("dashboard")] bool Dashboard,
    [property: JsonPropertyName("members")] IReadOnlyList<MemberView> Members,
    [property: JsonPropertyName("leader_history")] IReadOnlyList<JournalView> LeaderHistory,
    [property: JsonPropertyName("events")] IReadOnlyList<JournalView> Events,
    [property: JsonPropertyName("problems")] IReadOnlyList<ProblemView> Problems);

public sealed record MemberView(
    [property: JsonPropertyName("id")] ulong Id,
    [property: JsonPropertyName("address")] string Address,
    [property: JsonPropertyName("voter")] bool Voter,
    [property: JsonPropertyName("reachable")] bool Reachable,
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("term")] ulong Term,
    [property: JsonPropertyName("leader_id")] ulong LeaderId,
    [property: JsonPropertyName("commit_index")] ulong CommitIndex,
    [property: JsonPropertyName("applied_index")] ulong AppliedIndex,
    [property: JsonPropertyName("applied_lag")] ulong? AppliedLag,
    [property: JsonPropertyName("problem")] string? Problem);

public sealed record JournalView(
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("term")] ulong Term,
    [property: JsonPropertyName("leader_id")] ulong LeaderId,
    [property: JsonPropertyName("text")] string Text);

public sealed record ProblemView(
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("level")] string Level,
    [property: JsonPropertyName("category")] string Category,
    [property: JsonPropertyName("message")] string Message);
