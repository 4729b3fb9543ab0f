using System.Net;
using System.Net.Sockets;

namespace RaftKv.TestingHost;

/// <summary>Free loopback ports for test clusters.</summary>
public static class LoopbackPorts
{
    /// <summary>
    /// Ports that are free now, chosen below Linux's ephemeral range (32768+) so that other tests binding port 0 in
    /// parallel cannot be handed one of them between this check and the silo's bind. <paramref name="range"/> (first
    /// inclusive, last exclusive) narrows the choice, e.g. to the ports a tool was given.
    /// Without one, RAFTKV_TEST_PORTS ("first-last", e.g. "19000-19499") confines them, for machines shared with other runs.
    /// </summary>
    public static int[] Free(int count, (int First, int Last)? range = null)
    {
        (int first, int last) = range ?? Range();
        var ports = new List<int>();
        while (ports.Count < count)
        {
            int port = Random.Shared.Next(first, last);
            if (ports.Contains(port)) continue;
            try
            {
                var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                listener.Stop();
                ports.Add(port);
            }
            catch (SocketException)
            {
            }
        }
        return [.. ports];
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
