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
    /// </summary>
    public static int[] Free(int count, (int First, int Last)? range = null)
    {
        (int first, int last) = range ?? (20_000, 32_000);
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
}
