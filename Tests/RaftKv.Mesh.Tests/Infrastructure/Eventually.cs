namespace RaftKv.Mesh.Tests.Infrastructure;

/// <summary>Waits on a condition with a deadline (never a fixed sleep); the deadline only bounds a failing test.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(30);

    /// <summary>How often the condition is re-checked; the deadline, not this, bounds the wait.</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    public static async Task WaitAsync(Func<bool> condition, string what, TimeSpan? deadline = null, Action? eachPoll = null)
    {
        using var timeout = new CancellationTokenSource(deadline ?? DefaultDeadline);
        while (!condition())
        {
            if (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }
            eachPoll?.Invoke();
            await Task.Delay(PollInterval, CancellationToken.None);
        }
    }
}
