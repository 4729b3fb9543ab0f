using System.Net;
using System.Net.Sockets;

namespace RaftKv.TestingHost;

/// <summary>Free loopback ports for test clusters.</summary>
public static class LoopbackPorts
{
    // A port handed out is reserved for the rest of this process by an exclusive lock on a file named after it (on
    // Linux .NET takes FileShare.None as flock): a free-port probe alone leaves a window between the probe and the
    // silo's bind, and test assemblies run in parallel processes picking from the same range, so two of them could be
    // handed the same port ("Address already in use" at a silo's start). The kernel drops the lock when the process
    // exits, however it exits.
    private static readonly string LockDirectory = Path.Combine(Path.GetTempPath(), "raftkv-test-ports");
    private static readonly List<FileStream> Reserved = [];

    /// <summary>
    /// Ports that are free now, reserved against every other process that takes ports here, and never handed out
    /// twice by this process. They are chosen below Linux's ephemeral range (32768+) so that sockets binding port 0
    /// cannot be given one of them between this check and the silo's bind. <paramref name="range"/> (first
    /// inclusive, last exclusive) narrows the choice, e.g. to the ports a tool was given.
    /// Without one, RAFTKV_TEST_PORTS ("first-last", e.g. "19000-19499") confines them, for machines shared with other runs.
    /// </summary>
    public static int[] Free(int count, (int First, int Last)? range = null)
    {
        (int first, int last) = range ?? Range();
        var ports = new List<int>();
        for (int attempts = 0; ports.Count < count; attempts++)
        {
            if (attempts > 20 * (last - first))
            {
                throw new InvalidOperationException($"no {count} free loopback ports in {first}-{last - 1} (RAFTKV_TEST_PORTS confines them)");
            }
            int port = Random.Shared.Next(first, last);
            if (TryReserve(port)) ports.Add(port);
        }
        return [.. ports];
    }

    private static bool TryReserve(int port)
    {
        lock (Reserved)
        {
            Directory.CreateDirectory(LockDirectory);
            try
            {
                Reserved.Add(new FileStream(Path.Combine(LockDirectory, port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
                return IsFree(port); // a process that does not reserve may hold it; then the lock keeps this one from trying it again
            }
            catch (IOException)
            {
                return false; // reserved by another process, or already by this one
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static (int First, int Last) Range()
    {
        string? range = Environment.GetEnvironmentVariable("RAFTKV_TEST_PORTS");
        if (string.IsNullOrEmpty(range)) return (20_000, 32_000);
        string[] bounds = range.Split('-');
        if (bounds.Length == 2 && int.TryParse(bounds[0], out int first) && int.TryParse(bounds[1], out int last) && 0 < first && first <= last && last < 65_536)
        {
            return (first, last + 1);
        }
        throw new InvalidOperationException($"RAFTKV_TEST_PORTS must look like 19000-19499, not '{range}'");
    }
}
