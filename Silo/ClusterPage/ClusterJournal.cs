using Microsoft.Extensions.Hosting;
using RaftKv.Node;
using RaftKv.Raft;

namespace RaftKv.Silo.ClusterPage;

/// <summary>
/// What this node saw happen, for the cluster page: leader changes (the leader history) and its own role and term
/// changes (elections), as the node reports them (<see cref="IRaftKvNode.LeadershipChanged"/>, every change in order);
/// the page says "as seen by node N". It used to sample the node's status five times a second, which kept an idle silo
/// waking for nothing and could miss a change undone between two samples.
/// </summary>
public sealed class ClusterJournal(IRaftKvNode node, TimeProvider time) : BackgroundService
{
    public const int Capacity = 50;

    private readonly Lock _lock = new();
    private readonly LinkedList<JournalEntry> _leaders = new();
    private readonly LinkedList<JournalEntry> _events = new();
    private RaftStatus? _last;

    public sealed record JournalEntry(DateTimeOffset At, ulong Term, ulong Leader, string Text);

    public (IReadOnlyList<JournalEntry> Leaders, IReadOnlyList<JournalEntry> Events) Snapshot()
    {
        lock (_lock) return ([.. _leaders], [.. _events]);
    }

    /// <summary>Records what changed since the previous sample. Public for tests.</summary>
    public void Sample(RaftStatus status) => Sample(status, first: false);

    /// <param name="first">The status read when the journal starts: ignored if the node reported a change already.</param>
    private void Sample(RaftStatus status, bool first)
    {
        DateTimeOffset now = time.GetUtcNow();
        lock (_lock)
        {
            if (first && _last is not null) return;
            RaftStatus? last = _last;
            _last = status;
            if (last is null || last.Leader != status.Leader || (status.Leader != 0 && last.Term != status.Term && last.Leader == status.Leader))
            {
                string text = status.Leader == 0 ? $"no leader known in term {status.Term}" : $"node {status.Leader} leads term {status.Term}";
                Add(_leaders, new JournalEntry(now, status.Term, status.Leader, text));
            }
            if (last is null || last.Role != status.Role || last.Term != status.Term)
            {
                string text = last is null
                    ? $"node {status.NodeId} is {status.Role} in term {status.Term} (page started)"
                    : $"node {status.NodeId}: {last.Role} in term {last.Term} -> {status.Role} in term {status.Term}";
                Add(_events, new JournalEntry(now, status.Term, status.Leader, text));
            }
        }
    }

    private static void Add(LinkedList<JournalEntry> list, JournalEntry entry)
    {
        list.AddFirst(entry);
        while (list.Count > Capacity) list.RemoveLast();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Action<RaftStatus> record = Sample;
        node.LeadershipChanged += record;
        try
        {
            try
            {
                // Subscribed first, so no change is missed; this read is recorded only if no change was reported
                // meanwhile (a reported one is at least as new).
                Sample(node.Status, first: true);
            }
            catch (UnavailableException)
            {
                // The node is not running (yet, or any more).
            }
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            node.LeadershipChanged -= record;
        }
    }
}
