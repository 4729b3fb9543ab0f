namespace RaftKv.Fuzz.Tests;

/// <summary>The checked-in corpus (Tests/RaftKv.Fuzz/corpus/&lt;target&gt;/), as copied next to the test assembly.</summary>
internal static class Corpus
{
    public static string Root { get; } = Path.Combine(AppContext.BaseDirectory, "corpus");

    public static IEnumerable<string> Files(string target) =>
        Directory.EnumerateFiles(Path.Combine(Root, target)).Order(StringComparer.Ordinal);

    public static byte[] Read(string target, string fileName) => File.ReadAllBytes(Path.Combine(Root, target, fileName));

    /// <summary>Runs one input with a deadline, so a hang fails the test instead of stalling the run.</summary>
    public static async Task<FuzzOutcome> ExecuteAsync(FuzzTarget target, byte[] input)
    {
        Task<FuzzOutcome> run = Task.Run(() => target.Execute(input));
        return await run.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
