using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;

namespace RaftKv.Silo;

/// <summary>
/// Bounds how long a stopping silo can stay alive. The host's shutdown timeout only cancels the token it hands to
/// hosted services; a component that ignores it (Orleans stopping mid-start, a stuck fsync) keeps the process up,
/// refusing everything, and a supervisor cannot restart it. Once the application starts stopping, this waits the
/// graceful budget plus a margin on a dedicated thread (not the thread pool, which may be what is stuck) and then
/// exits the process at once. That is safe because nothing is acknowledged before it is durable in the WAL: a hard
/// exit here is no worse than kill -9, which the crash and chaos tests exercise.
/// </summary>
internal static class ShutdownWatchdog
{
    /// <summary>Exit code of a silo whose graceful stop ran out of time (unless the stop began with another, see WaitThenExit).</summary>
    public const int ExitCode = 3;

    public static void Arm(IHostApplicationLifetime lifetime, TimeSpan deadline) =>
        lifetime.ApplicationStopping.Register(() => ExitAfter(deadline, ExitCode));

    /// <summary>How long past RaftKv:ShutdownTimeoutMs a silo stopping for a failure (<see cref="StopFailing"/>) may take.</summary>
    private static readonly TimeSpan FailingStopMargin = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Stops the silo for a failure that leaves it nothing to drain (its node fail-stopped, or Orleans gave up on it):
    /// the process exits with <paramref name="exitCode"/>, gracefully or, once RaftKv:ShutdownTimeoutMs + 1 s have
    /// passed, at once; sooner than <see cref="Arm"/>'s general bound, as Orleans' stop hangs in these cases.
    /// </summary>
    public static void StopFailing(IHostApplicationLifetime lifetime, TimeSpan shutdownTimeout, int exitCode)
    {
        Environment.ExitCode = exitCode;
        ExitAfter(shutdownTimeout + FailingStopMargin, exitCode);
        lifetime.StopApplication();
    }

    /// <summary>Exits the process with <paramref name="exitCode"/> unless it has exited by itself within <paramref name="deadline"/>.</summary>
    private static void ExitAfter(TimeSpan deadline, int exitCode)
    {
        var thread = new Thread(() => WaitThenExit(deadline, exitCode)) { IsBackground = true, Name = "raftkv-shutdown-watchdog" };
        thread.Start();
    }

    private static void WaitThenExit(TimeSpan deadline, int exitCode)
    {
        Thread.Sleep(deadline);
        // A stop that began with a reason to exit non-zero (70 after a fatal I/O error, 75 when Orleans gave up on the
        // silo) keeps it: the operator needs that reason more than the fact that the stop then hung.
        if (Environment.ExitCode != 0) exitCode = Environment.ExitCode;
        Console.Error.WriteLine($"raftkv-silo: graceful stop did not finish within {deadline.TotalMilliseconds:0} ms; exiting now with code {exitCode} (everything acknowledged is in the WAL)");
        Console.Error.Flush();
        if (OperatingSystem.IsLinux())
        {
            // _exit skips ProcessExit handlers, one of which (the host's console lifetime) waits for the stuck stop.
            try
            {
                _exit(exitCode);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
            }
        }
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        self.Kill();
    }

    [DllImport("libc.so.6", EntryPoint = "_exit")]
    private static extern void _exit(int status);
}
