using System.Globalization;
using System.Text;
using RaftKv.Grains;
using RaftKv.TestingHost;
using static RaftKv.Orleans.Tests.KvGrainTests;

namespace RaftKv.Orleans.Tests;

[Collection("raftkv test clusters")]
public sealed class ExactlyOnceTests(SharedClusterFixture fixture)
{
    private RaftKvTestCluster Cluster => fixture.Cluster;

    [Fact]
    public async Task A_counter_incremented_by_compare_and_swap_through_session_grains_ends_exact_although_every_write_is_sent_twice()
    {
        const int Sessions = 4, IncrementsPerSession = 10;
        byte[] key = Utf8("counter/exact");
        using (RaftKvSession setup = await Cluster.Client.OpenRaftKvSessionAsync())
        {
            await setup.WriteAsync(KvWrite.Put(key, Utf8("0")));
        }

        async Task<int> IncrementAsync()
        {
            using RaftKvSession session = await Cluster.Client.OpenRaftKvSessionAsync();
            int retriedSuccesses = 0;
            for (int done = 0; done < IncrementsPerSession;)
            {
                KvItem current = (await session.GetAsync("counter/exact"))!;
                int value = int.Parse(Encoding.UTF8.GetString(current.Value), CultureInfo.InvariantCulture);
                KvWrite increment = KvWrite.CompareRevisionAndSwap(key, current.ModRevision, Utf8((value + 1).ToString(CultureInfo.InvariantCulture)));
                ulong sequence = session.NextSequence();
                KvWriteResult first = await session.WriteAsync(sequence, increment);
                // The application "retries" the same request: the session table answers it with the original
                // result. Applied a second time it would fail, since the revision it expects is gone.
                KvWriteResult retried = await session.WriteAsync(sequence, increment);
                Assert.Equal((first.Status, first.CreateRevision, first.ModRevision), (retried.Status, retried.CreateRevision, retried.ModRevision));
                Assert.Equal(first.CurrentValue, retried.CurrentValue);
                if (first.Succeeded)
                {
                    done++;
                    retriedSuccesses++;
                }
            }
            return retriedSuccesses;
        }

        int[] successes = await Task.WhenAll(Enumerable.Range(0, Sessions).Select(_ => IncrementAsync()));

        Assert.Equal(Sessions * IncrementsPerSession, successes.Sum());
        KvItem final = (await Cluster.Client.GetKvGrain("counter/exact").GetAsync())!;
        Assert.Equal((Sessions * IncrementsPerSession).ToString(CultureInfo.InvariantCulture), Encoding.UTF8.GetString(final.Value));
    }

    [Fact]
    public async Task A_put_retried_with_its_sequence_number_after_later_writes_is_not_applied_again()
    {
        using RaftKvSession session = await Cluster.Client.OpenRaftKvSessionAsync();
        ulong sequence = session.NextSequence();
        KvWriteResult first = await session.WriteAsync(sequence, KvWrite.Put(Utf8("once/key"), Utf8("1")));
        KvWriteResult again = await session.WriteAsync(sequence, KvWrite.Put(Utf8("once/key"), Utf8("1")));
        Assert.Equal(first.ModRevision, again.ModRevision);

        KvItem item = (await Cluster.Client.GetKvGrain("once/key").GetAsync())!;
        Assert.Equal(first.ModRevision, item.ModRevision);
    }
}
