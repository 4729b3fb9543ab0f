namespace RaftKv.Fuzz.Tests;

/// <summary>
/// Replays every corpus file through its target, uninstrumented: each input must be accepted, or refused with the
/// parser's documented error (never another exception type, a hang, or an allocation beyond the budget).
/// </summary>
public sealed class CorpusReplayTests
{
    public static TheoryData<string, string> CorpusFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (FuzzTarget target in FuzzTargets.All)
        {
            foreach (string file in Corpus.Files(target.Name))
            {
                data.Add(target.Name, Path.GetFileName(file));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public async Task Corpus_input_is_accepted_or_rejected_with_a_documented_error(string target, string file)
    {
        FuzzOutcome outcome = await Corpus.ExecuteAsync(FuzzTargets.Get(target), Corpus.Read(target, file));

        if (file.StartsWith("seed-", StringComparison.Ordinal))
        {
            Assert.Equal(FuzzOutcome.Accepted, outcome);
        }
    }

    [Fact]
    public void Every_target_has_a_corpus_and_every_corpus_has_a_target()
    {
        string[] corpora = Directory.EnumerateDirectories(Corpus.Root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

        Assert.Equal(FuzzTargets.All.Select(t => t.Name).Order(StringComparer.Ordinal), corpora);
        Assert.All(FuzzTargets.All, target => Assert.NotEmpty(Corpus.Files(target.Name)));
    }

    /// <summary>
    /// The seeds are the real encoders' output. When a format changes this fails: regenerate them with
    /// <c>dotnet run --project Tests/RaftKv.Fuzz -- seeds Tests/RaftKv.Fuzz/corpus</c>.
    /// </summary>
    [Fact]
    public void Seed_files_match_what_the_encoders_produce_today()
    {
        foreach (FuzzTarget target in FuzzTargets.All)
        {
            var expected = target.Seeds().ToDictionary(seed => "seed-" + seed.Name, seed => seed.Bytes);
            string[] checkedIn = Corpus.Files(target.Name).Select(Path.GetFileName).Where(name => name!.StartsWith("seed-", StringComparison.Ordinal)).ToArray()!;

            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), checkedIn.Order(StringComparer.Ordinal));
            Assert.All(checkedIn, name => Assert.True(expected[name].AsSpan().SequenceEqual(Corpus.Read(target.Name, name)), $"{target.Name}/{name} is stale"));
        }
    }

    [Fact]
    public void An_unexpected_exception_type_escapes_the_target()
    {
        var target = new FuzzTarget("probe", "throws what it is told", input => throw new IndexOutOfRangeException(), [typeof(InvalidDataException)], () => []);

        Assert.Throws<IndexOutOfRangeException>(() => target.Execute([1]));
    }

    [Fact]
    public void A_documented_exception_type_is_a_rejection()
    {
        var target = new FuzzTarget("probe", "throws what it is told", input => throw new InvalidDataException(), [typeof(InvalidDataException)], () => []);

        Assert.Equal(FuzzOutcome.Rejected, target.Execute([1]));
    }

    [Fact]
    public void An_input_that_allocates_past_the_budget_fails()
    {
        var target = new FuzzTarget("probe", "allocates", input =>
        {
            GC.KeepAlive(new byte[FuzzTarget.AllocationBaseBytes + 1024]);
            return FuzzOutcome.Accepted;
        }, [], () => []);

        Assert.Throws<FuzzAllocationBudgetException>(() => target.Execute([1]));
    }
}
