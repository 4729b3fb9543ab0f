using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using RaftKv.Node;

namespace RaftKv.Silo;

/// <summary>
/// What the silo does when Orleans gives up on it: its membership declared this silo dead (it did not answer probes for
/// a few seconds: a pause, a partition), or one of Orleans' own critical loops failed. Orleans' default handler ends the
/// process with <see cref="Environment.FailFast(string)"/> (SIGABRT, exit code 134, a crash dump where enabled), which
/// takes the Raft node down mid-step. Raft does not need that: the node is healthy and its log durable, only the
/// Orleans silo cannot go on (a silo declared dead never rejoins under the same generation). So this handler stops the
/// process the way SIGTERM does: Orleans stops, the node then hands off leadership if it leads and closes its WAL and
/// state machine, and the process exits with <see cref="ExitCode"/> for the supervisor to restart it
/// (<c>Restart=on-failure</c>, <c>restart: unless-stopped</c>), which rejoins Orleans as a new generation.
/// The stop is bounded more tightly than other stops (<see cref="ShutdownWatchdog"/>'s RaftKv:ShutdownTimeoutMs + 5 s):
/// Orleans' own stop of a silo it declared dead can hang past its cancellation (seen in chaos runs), and the node's
/// leadership hand-off comes first anyway, so after RaftKv:ShutdownTimeoutMs + 1 s the process exits with the same code.
/// </summary>
internal sealed class OrleansFatalErrorHandler(IHostApplicationLifetime lifetime, NodeOptions options, ILogger<OrleansFatalErrorHandler> logger) : IFatalErrorHandler
{
    /// <summary>Exit code of a silo stopped because Orleans gave up on it (EX_TEMPFAIL: restart it).</summary>
    public const int ExitCode = 75;

    private int _stopping;

    // Orleans' default: every exception that reaches a critical loop is unexpected.
    public bool IsUnexpected(Exception exception) => true;

    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        if (Interlocked.Exchange(ref _stopping, 1) != 0) return;
        SiloLog.OrleansGaveUp(logger, sender?.GetType().Name ?? "Orleans", context ?? "(no context)", exception);
        ShutdownWatchdog.StopFailing(lifetime, TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs), ExitCode);
    }
}
