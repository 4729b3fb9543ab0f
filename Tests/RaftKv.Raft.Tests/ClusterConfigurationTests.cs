using FsCheck;
using FsCheck.Fluent;
using RaftKv.Raft;

namespace RaftKv.Raft.Tests;

public sealed class ClusterConfigurationTests
{
    [Fact]
    public void Encoding_round_trips_for_any_membership()
    {
        Prop.ForAll<ulong[], ulong[]>((voters, learners) =>
        {
            var v = voters.Where(id => id != 0).Distinct().ToArray();
            var l = learners.Where(id => id != 0 && !v.Contains(id)).Distinct().ToArray();
            var configuration = new ClusterConfiguration(v, l);
            return ClusterConfiguration.Decode(configuration.Encode()).Equals(configuration);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Quorum_is_a_strict_majority_of_voters_and_ignores_learners()
    {
        Prop.ForAll(Gen.Choose(1, 50).ToArbitrary(), Gen.Choose(0, 10).ToArbitrary(), (voterCount, learnerCount) =>
        {
            var configuration = new ClusterConfiguration(
                Enumerable.Range(1, voterCount).Select(i => (ulong)i),
                Enumerable.Range(100, learnerCount).Select(i => (ulong)i));
            int quorum = configuration.QuorumSize;
            return 2 * quorum > voterCount && 2 * (quorum - 1) <= voterCount;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Malformed_bytes_are_rejected_not_misread()
    {
        Assert.Throws<FormatException>(() => ClusterConfiguration.Decode(new byte[5]));
        byte[] bytes = new ClusterConfiguration([1, 2, 3]).Encode();
        Assert.Throws<FormatException>(() => ClusterConfiguration.Decode(bytes.AsSpan(0, bytes.Length - 1)));
    }
}
