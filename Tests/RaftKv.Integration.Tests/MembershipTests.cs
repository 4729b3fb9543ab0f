using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.TestingHost;
using Xunit.Abstractions;

namespace RaftKv.Integration.Tests;

/// <summary>Membership changes and leadership transfer on real silo processes (Raft thesis 3.10 and chapter 4).</summary>
[Collection("silo processes")]
public sealed class MembershipTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Grow_3_to_5_under_writes_remove_two_including_the_leader_transfer_leadership_and_removed_nodes_disturb_nobody()
    {
        // A small snapshot threshold, so the joining nodes catch up from a snapshot of a compacted log. A 1 s election
        // timeout keeps a loaded two-core machine (up to five silos) from elections that nobody caused: the check
        // below is that removed nodes cause none.
        await using var cluster = new SiloProcessCluster(3,
            ["--RaftKv:SnapshotThresholdBytes=32768", "--RaftKv:ElectionTimeoutMs=1000", "--RaftKv:HeartbeatIntervalMs=100"]);
        ulong firstLeader = await cluster.WaitForLeaderAsync(Deadline);
        await using RaftKvClient admin = cluster.NewClient();
        string filler = new('x', 200);
        for (int i = 0; i < 400; i++) await admin.PutAsync($"before/{i}", filler);
        await cluster.WaitUntilAsync(async () => (await cluster.TryStatusAsync(firstLeader))!.AppliedIndex > 400, Deadline, "the preload is applied");

        using var writer = new Writer(cluster);
        await writer.WaitForMoreAsync(20);

        // Grow: two new silos join as learners through node 1, catch up, and are promoted.
        foreach (int _ in Enumerable.Range(0, 2))
        {
            var joined = cluster.StartJoiningNode(joinThrough: 1);
            await cluster.WaitUntilAsync(async () => (await admin.MemberListAsync()).Members.Any(m => m.Id == joined.Id && !m.Voter),
                Deadline, $"node {joined.Id} is a learner");
            MembershipResponse promoted = await PromoteWhenCaughtUpAsync(admin, joined.Id);
            Assert.Contains(promoted.Members, m => m.Id == joined.Id && m.Voter && m.PeerAddress == joined.PeerAddress && m.Address == joined.ClientAddress);
            Assert.False(promoted.ConfigurationPending);
            await writer.WaitForMoreAsync(20);
        }
        Assert.Equal(new ulong[] { 1, 2, 3, 4, 5 }, (await admin.MemberListAsync()).Members.Where(m => m.Voter).Select(m => m.Id).Order());
        // The new nodes took a snapshot (the log was compacted before they joined) and serve what was written before.
        await using (RaftKvClient onNew = cluster.NewClient(5))
        {
            Assert.Equal(filler, Encoding.UTF8.GetString((await onNew.GetAsync("before/0"))!.Value));
        }
        Assert.Contains("installed snapshot", cluster.Log(4), StringComparison.Ordinal);

        // Shrink: remove a follower, then the leader itself (it commits its removal, then steps down).
        ulong leader = (await admin.MemberListAsync()).LeaderId;
        ulong follower = (await admin.MemberListAsync()).Members.Select(m => m.Id).First(id => id != leader);
        MembershipResponse afterFollower = await admin.MemberRemoveAsync(follower);
        Assert.DoesNotContain(afterFollower.Members, m => m.Id == follower);
        MembershipResponse afterLeader = await admin.MemberRemoveAsync(leader);
        Assert.DoesNotContain(afterLeader.Members, m => m.Id == leader);
        ulong[] remaining = [.. afterLeader.Members.Select(m => m.Id).Order()];
        Assert.Equal(3, remaining.Length);
        ulong newLeader = await cluster.WaitForLeaderAsync(Deadline, among: remaining);
        await writer.WaitForMoreAsync(20);

        // Transfer leadership around the remaining voters.
        foreach (ulong target in remaining.Where(id => id != newLeader).Append(newLeader))
        {
            MembershipResponse moved = await admin.LeaderTransferAsync(target);
            Assert.Equal(target, moved.LeaderId);
            Assert.Equal(target, await cluster.WaitForLeaderAsync(Deadline, among: remaining));
            await writer.WaitForMoreAsync(10);
        }

        // The removed nodes keep running. While the rest take more writes (several election timeouts' worth),
        // nobody's term moves: the removed nodes neither campaign nor disrupt.
        Assert.True(cluster.IsRunning(follower) && cluster.IsRunning(leader));
        ulong[] terms = await TermsAsync(cluster, remaining);
        var quiet = Stopwatch.StartNew();
        await writer.WaitForMoreAsync(200);
        // An observation window, not a wait for something to happen: five election timeouts, so a removed node whose
        // timer ran out (after 1 to 2 s) would have campaigned at least twice.
        await cluster.WaitUntilAsync(() => Task.FromResult(quiet.Elapsed > TimeSpan.FromSeconds(5)), Deadline, "five election timeouts pass");
        ulong[] termsAfter = await TermsAsync(cluster, remaining);
        Assert.True(terms.SequenceEqual(termsAfter),
            $"terms of nodes {string.Join(',', remaining)} moved from {string.Join(',', terms)} to {string.Join(',', termsAfter)} (removed: {follower}, {leader}); role changes:\n" +
            string.Join("\n", cluster.Members.Select(m => $"--- node {m.Id}\n" + string.Join("\n", cluster.Log(m.Id).Split('\n').Where(l => l.Contains(" is ", StringComparison.Ordinal) && l.Contains(" in term ", StringComparison.Ordinal)).TakeLast(8)))));

        writer.Stop();
        await writer.Completion;
        output.WriteLine($"acknowledged writes: {writer.Acknowledged.Count}, failed after the client's retries: {writer.Failures.Count}");
        Assert.Empty(writer.Failures);
        await using RaftKvClient reader = cluster.NewClient(remaining);
        foreach ((string key, string value) in writer.Acknowledged)
        {
            Assert.Equal(value, Encoding.UTF8.GetString((await reader.GetAsync(key))!.Value));
        }
    }

    private async Task<MembershipResponse> PromoteWhenCaughtUpAsync(RaftKvClient admin, ulong id)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await admin.MemberPromoteAsync(id);
            }
            catch (RpcException refused) when (refused.StatusCode == StatusCode.FailedPrecondition && refused.Status.Detail.Contains("behind", StringComparison.Ordinal) &&
                                               deadline.Elapsed < Deadline)
            {
                output.WriteLine($"promote {id}: {refused.Status.Detail}");
                await Task.Delay(100);
            }
        }
    }

    private static async Task<ulong[]> TermsAsync(SiloProcessCluster cluster, IEnumerable<ulong> nodes)
    {
        var terms = new List<ulong>();
        foreach (ulong id in nodes) terms.Add((await cluster.TryStatusAsync(id))?.Term ?? throw new InvalidOperationException($"node {id} did not answer"));
        return [.. terms];
    }

    /// <summary>One client writing distinct keys one after another; records what was acknowledged and what failed.</summary>
    private sealed class Writer : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        public Writer(SiloProcessCluster cluster)
        {
            Completion = Task.Run(async () =>
            {
                await using RaftKvClient client = cluster.NewClient();
                for (int i = 0; !_stop.IsCancellationRequested; i++)
                {
                    string key = $"w/{i}", value = $"v{i}";
                    try
                    {
                        await client.PutAsync(key, value, CancellationToken.None);
                        Acknowledged.Enqueue((key, value));
                    }
                    catch (Exception e) when (e is RpcException or RaftKvSessionExpiredException)
                    {
                        Failures.Enqueue(e.Message);
                    }
                }
            });
        }

        public ConcurrentQueue<(string Key, string Value)> Acknowledged { get; } = new();

        public ConcurrentQueue<string> Failures { get; } = new();

        public Task Completion { get; }

        public async Task WaitForMoreAsync(int writes)
        {
            int target = Acknowledged.Count + writes;
            var deadline = Stopwatch.StartNew();
            while (Acknowledged.Count < target)
            {
                if (Completion.IsFaulted) await Completion;
                if (deadline.Elapsed > Deadline) throw new TimeoutException($"the writer made no progress ({Acknowledged.Count} acknowledged, failures: {string.Join("; ", Failures)})");
                await Task.Delay(20);
            }
        }

        public void Stop() => _stop.Cancel();

        public void Dispose()
        {
            _stop.Cancel();
            _stop.Dispose();
        }
    }
}
