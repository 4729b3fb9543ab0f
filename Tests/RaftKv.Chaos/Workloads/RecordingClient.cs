using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Workloads;

/// <summary>
/// Runs operations through one workload client and records each as invoke + ok/fail/info. A read that errs is
/// "fail" (reads change nothing); a write that errs is "info" unless the client proves it was not applied.
/// </summary>
public sealed class RecordingClient(IKvWorkloadClient client, HistoryRecorder history, int process)
{
    /// <summary>Hard cap on one operation including the client's own retries; hitting it is "info" for writes.</summary>
    public static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(10);

    public int Process => process;

    public Task<Operation> GetAsync(string key) =>
        RunAsync(history.Invoke(process, OpKind.Get, key), write: false, async ct => (await client.GetAsync(key, ct).ConfigureAwait(false), false, null));

    public Task<Operation> PutAsync(string key, string value) =>
        RunAsync(history.Invoke(process, OpKind.Put, key, value), write: true, async ct =>
        {
            await client.PutAsync(key, value, ct).ConfigureAwait(false);
            return (null, true, null);
        });

    public Task<Operation> DeleteAsync(string key) =>
        RunAsync(history.Invoke(process, OpKind.Delete, key), write: true, async ct => (null, await client.DeleteAsync(key, ct).ConfigureAwait(false), null));

    public Task<Operation> CompareAndSwapAsync(string key, string? expected, string value) =>
        RunAsync(history.Invoke(process, OpKind.Cas, key, value, expected), write: true, async ct =>
        {
            var (succeeded, current) = await client.CompareAndSwapAsync(key, expected, value, ct).ConfigureAwait(false);
            return (null, succeeded, current);
        });

    private async Task<Operation> RunAsync(PendingOperation pending, bool write,
        Func<CancellationToken, Task<(string? Read, bool Succeeded, string? Current)>> call)
    {
        using var timeout = new CancellationTokenSource(OperationTimeout);
        try
        {
            var (read, succeeded, current) = await call(timeout.Token).ConfigureAwait(false);
            return pending.Ok(read, succeeded, current);
        }
        catch (Exception error)
        {
            string reason = Describe(error);
            if (!write) return pending.Fail(reason);
            return client.IsDefinitelyNotApplied(error) ? pending.Fail(reason) : pending.Info(reason);
        }
    }

    private static string Describe(Exception error)
    {
        string text = error.GetType().Name + ": " + error.Message;
        text = text.ReplaceLineEndings(" ");
        return text.Length > 160 ? text[..160] : text;
    }
}
