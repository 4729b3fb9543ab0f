using RaftKv.Chaos.History;
using RaftKv.Chaos.Workloads;

namespace RaftKv.Chaos.Tests;

public sealed class RecordingClientTests
{
    /// <summary>A client whose every call throws the given error.</summary>
    private sealed class FailingClient(Exception error, bool provablyNotApplied = false) : IKvWorkloadClient
    {
        public Task<string?> GetAsync(string key, CancellationToken cancellationToken) => Task.FromException<string?>(error);

        public Task PutAsync(string key, string value, CancellationToken cancellationToken) => Task.FromException(error);

        public Task<bool> DeleteAsync(string key, CancellationToken cancellationToken) => Task.FromException<bool>(error);

        public Task<(bool Succeeded, string? Current)> CompareAndSwapAsync(string key, string? expected, string value, CancellationToken cancellationToken) =>
            Task.FromException<(bool, string?)>(error);

        public bool IsDefinitelyNotApplied(Exception e) => provablyNotApplied;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_write_that_times_out_or_loses_its_connection_is_unknown_and_a_read_that_fails_is_a_failure()
    {
        var history = new HistoryRecorder();
        foreach (Exception error in new Exception[] { new TimeoutException(), new OperationCanceledException(), new IOException("connection reset"), new InvalidOperationException("unavailable") })
        {
            var client = new RecordingClient(new FailingClient(error), history, 1);
            Assert.Equal(Outcome.Info, (await client.PutAsync("k", "v")).Outcome);
            Assert.Equal(Outcome.Info, (await client.DeleteAsync("k")).Outcome);
            Assert.Equal(Outcome.Info, (await client.CompareAndSwapAsync("k", null, "v")).Outcome);
            Assert.Equal(Outcome.Fail, (await client.GetAsync("k")).Outcome);
        }
    }

    [Fact]
    public async Task Only_an_error_the_client_proves_harmless_makes_a_write_fail()
    {
        var client = new RecordingClient(new FailingClient(new InvalidOperationException("refused before proposal"), provablyNotApplied: true), new HistoryRecorder(), 1);
        Assert.Equal(Outcome.Fail, (await client.PutAsync("k", "v")).Outcome);
    }

    [Fact]
    public async Task Invocation_and_completion_come_from_one_monotonic_clock()
    {
        var history = new HistoryRecorder();
        var client = new RecordingClient(new FailingClient(new TimeoutException()), history, 1);
        Operation first = await client.PutAsync("k", "a");
        Operation second = await client.PutAsync("k", "b");
        Assert.True(first.InvokeUs <= first.CompleteUs && first.CompleteUs <= second.InvokeUs && second.InvokeUs <= second.CompleteUs);
        Assert.Equal([first.Id, second.Id], history.Snapshot().Select(o => o.Id));
    }
}
