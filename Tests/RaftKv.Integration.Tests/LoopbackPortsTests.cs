using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>Test clusters' ports are never handed out twice while reserved, by this process or another.</summary>
public sealed class LoopbackPortsTests
{
    private static readonly string LockDirectory = Path.Combine(Path.GetTempPath(), "raftkv-test-ports");

    [Fact]
    public void A_port_reserved_by_another_holder_is_skipped_and_none_is_given_twice()
    {
        // Ports nobody else here uses: just above the default range and below the ephemeral one.
        int first = 32_100 + Random.Shared.Next(0, 300) * 2;
        Directory.CreateDirectory(LockDirectory);
        // What another test process holds while its silo runs: the lock on the port's file.
        using var other = new FileStream(Path.Combine(LockDirectory, first.ToString(CultureInfo.InvariantCulture)),
            FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);

        int port = Assert.Single(LoopbackPorts.Free(1, (first, first + 2)));
        Assert.Equal(first + 1, port);
        Assert.Throws<InvalidOperationException>(() => LoopbackPorts.Free(1, (first, first + 2)));
    }

    [Fact]
    public void A_port_bound_by_a_process_that_does_not_reserve_is_skipped()
    {
        int first = 32_101 + Random.Shared.Next(0, 300) * 2;
        var listener = new TcpListener(IPAddress.Loopback, first);
        listener.Start();
        try
        {
            Assert.Throws<InvalidOperationException>(() => LoopbackPorts.Free(1, (first, first + 1)));
        }
        finally
        {
            listener.Stop();
        }
    }
}
