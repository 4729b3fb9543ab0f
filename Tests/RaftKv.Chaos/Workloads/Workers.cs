using System.Globalization;
using RaftKv.Chaos.History;

namespace RaftKv.Chaos.Workloads;

/// <summary>Key names of the workloads; the runner reads them back at the end and digests them per node.</summary>
public static class WorkloadKeys
{
    public const string RegisterPrefix = "r/";
    public const string Counter = "c/counter";
    public const string WriteOncePrefix = "u/";
    public const int WriteOnceBucket = 1000;

    public static string Register(int index) => $"{RegisterPrefix}{index}";

    public static string WriteOnce(int process, int n) => $"{WriteOncePrefix}{process}/{n / WriteOnceBucket}/{n}";

    public static string WriteOnceBucketPrefix(int process, int bucket) => $"{WriteOncePrefix}{process}/{bucket}/";
}

/// <summary>
/// The client loops. Each runs until <paramref name="stop"/> is cancelled, between operations (an operation in
/// flight finishes and is recorded). Think times only pace the load; nothing waits for a condition with them.
/// </summary>
public static class Workers
{
    /// <summary>Put, get, delete and CAS on a few keys, so operations collide. Values are unique: "p{process}-{n}".</summary>
    public static async Task RegisterAsync(RecordingClient client, int keys, int seed, int thinkMs, CancellationToken stop)
    {
        var random = new Random(seed);
        var lastSeen = new Dictionary<string, string?>();
        int n = 0;
        while (!stop.IsCancellationRequested)
        {
            string key = WorkloadKeys.Register(random.Next(keys));
            int dice = random.Next(100);
            Operation op;
            if (dice < 40) op = await client.GetAsync(key).ConfigureAwait(false);
            else if (dice < 65) op = await client.PutAsync(key, NewValue(client, ++n)).ConfigureAwait(false);
            else if (dice < 90) op = await client.CompareAndSwapAsync(key, lastSeen.GetValueOrDefault(key), NewValue(client, ++n)).ConfigureAwait(false);
            else op = await client.DeleteAsync(key).ConfigureAwait(false);
            if (op.Outcome == Outcome.Ok)
            {
                lastSeen[key] = op.Kind switch
                {
                    OpKind.Get or OpKind.Put => op.Value,
                    OpKind.Delete => null,
                    _ => op.Succeeded ? op.Value : op.Current,
                };
            }
            await Think(random, thinkMs, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Increments the counter by read + CAS; exactly-once rests on the session retries.</summary>
    public static async Task CounterAsync(RecordingClient client, int seed, int thinkMs, CancellationToken stop)
    {
        var random = new Random(seed);
        while (!stop.IsCancellationRequested)
        {
            Operation read = await client.GetAsync(WorkloadKeys.Counter).ConfigureAwait(false);
            if (read.Outcome == Outcome.Ok && Parse(read.Value) is { } current)
            {
                await client.CompareAndSwapAsync(WorkloadKeys.Counter, read.Value, (current + 1).ToString(CultureInfo.InvariantCulture)).ConfigureAwait(false);
            }
            await Think(random, thinkMs, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Puts to fresh keys, each written once; the end reads them all back.</summary>
    public static async Task WriteOnceAsync(RecordingClient client, int seed, int thinkMs, CancellationToken stop)
    {
        var random = new Random(seed);
        int n = 0;
        while (!stop.IsCancellationRequested)
        {
            n++;
            await client.PutAsync(WorkloadKeys.WriteOnce(client.Process, n), NewValue(client, n)).ConfigureAwait(false);
            await Think(random, thinkMs, stop).ConfigureAwait(false);
        }
    }

    /// <summary>Linearizable reads through one node only: an isolated or lagging node must refuse, never answer stale.</summary>
    public static async Task PinnedReaderAsync(RecordingClient client, int keys, int seed, int thinkMs, CancellationToken stop)
    {
        var random = new Random(seed);
        while (!stop.IsCancellationRequested)
        {
            await client.GetAsync(WorkloadKeys.Register(random.Next(keys))).ConfigureAwait(false);
            await Think(random, thinkMs, stop).ConfigureAwait(false);
        }
    }

    private static long? Parse(string? value) =>
        value is null ? 0 : long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : null;

    private static string NewValue(RecordingClient client, int n) => string.Create(CultureInfo.InvariantCulture, $"p{client.Process}-{n}");

    private static async Task Think(Random random, int thinkMs, CancellationToken stop)
    {
        if (thinkMs <= 0) return;
        try
        {
            await Task.Delay(random.Next(thinkMs + 1), stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
