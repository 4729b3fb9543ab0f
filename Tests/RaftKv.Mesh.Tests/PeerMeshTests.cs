using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using RaftKv.Mesh.Tests.Infrastructure;
using RaftKv.Raft;

namespace RaftKv.Mesh.Tests;

public sealed class PeerMeshTests
{
    private static readonly MeshOptions FastReconnect = new() { ReconnectBackoffMinMs = 5, ReconnectBackoffMaxMs = 100 };

    private static Message Heartbeat(ulong from, ulong to, ulong round) =>
        new() { Type = MessageType.Heartbeat, From = from, To = to, Term = 3, Commit = round, ReadRound = round };

    private static PeerMesh Mesh(ulong self, IReadOnlyDictionary<ulong, string> peers, IPeerMessageHandler? handler = null, MeshOptions? options = null) =>
        new(self, peers, handler ?? new RecordingHandler(), options ?? FastReconnect, NullLogger.Instance);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public void Peer_channels_do_without_grpc_client_side_load_balancing()
    {
        // Grpc.Net.Client tracks connectivity state only through its balancer; a channel without one refuses the question.
        using var channel = PeerMesh.CreateChannel(2, "http://127.0.0.1:1", new MeshOptions());
        var refused = Assert.Throws<InvalidOperationException>(() => channel.State);
        Assert.Contains("load balancing", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MessagesFlowBothWays()
    {
        using var handler1 = new RecordingHandler();
        using var handler2 = new RecordingHandler();
        await using MeshTestServer server1 = await MeshTestServer.StartAsync(1, handler1);
        await using MeshTestServer server2 = await MeshTestServer.StartAsync(2, handler2);
        var addresses = new Dictionary<ulong, string> { [1] = server1.Address.ToString(), [2] = server2.Address.ToString() };
        await using PeerMesh mesh1 = Mesh(1, addresses);
        await using PeerMesh mesh2 = Mesh(2, addresses);

        Message append = new()
        {
            Type = MessageType.AppendEntries, From = 1, To = 2, Term = 3, LogIndex = 9, LogTerm = 2, Commit = 8,
            Entries = [LogEntry.Command(10, 3, new byte[] { 42 })],
        };
        mesh1.Send(append);
        mesh2.Send(new Message { Type = MessageType.AppendEntriesResponse, From = 2, To = 1, Term = 3, LogIndex = 10 });

        await Eventually.WaitAsync(() => handler2.Messages.Count == 1 && handler1.Messages.Count == 1, "each node received one message");
        RaftMessageCodecTests.AssertSameMessage(append, handler2.Messages[0]);
        Assert.Equal(MessageType.AppendEntriesResponse, handler1.Messages[0].Type);
        Assert.Equal(10UL, handler1.Messages[0].LogIndex);
    }

    [Fact]
    public async Task ManyBatchesArriveInOrderPerPeer()
    {
        const int count = 3000;
        using var handler2 = new RecordingHandler();
        using var handler3 = new RecordingHandler();
        await using MeshTestServer server2 = await MeshTestServer.StartAsync(2, handler2);
        await using MeshTestServer server3 = await MeshTestServer.StartAsync(3, handler3);
        var addresses = new Dictionary<ulong, string> { [2] = server2.Address.ToString(), [3] = server3.Address.ToString() };
        await using PeerMesh mesh = Mesh(1, addresses, options: FastReconnect with { MaxBatchMessages = 50, MaxQueuedMessagesPerPeer = 4 * count });

        for (ulong round = 1; round <= count; round++)
        {
            mesh.Send(Heartbeat(1, 2, round));
            mesh.Send(Heartbeat(1, 3, round));
        }

        // Round-0 heartbeats after the burst travel behind it on the same stream, so they cannot hide a reordering.
        static IEnumerable<ulong> Rounds(RecordingHandler handler) => handler.Messages.Select(m => m.ReadRound).Where(r => r != 0);
        await Eventually.WaitAsync(
            () => Rounds(handler2).Count() == count && Rounds(handler3).Count() == count,
            "every message arrived",
            eachPoll: () =>
            {
                mesh.Send(Heartbeat(1, 2, 0));
                mesh.Send(Heartbeat(1, 3, 0));
            });
        Assert.Equal(Enumerable.Range(1, count).Select(i => (ulong)i), Rounds(handler2));
        Assert.Equal(Enumerable.Range(1, count).Select(i => (ulong)i), Rounds(handler3));
        Assert.Equal(0, mesh.DroppedMessages);
    }

    [Fact]
    public async Task ABurstArrivesWithoutLaterTraffic()
    {
        const int count = 3000;
        using var handler = new RecordingHandler();
        await using MeshTestServer server = await MeshTestServer.StartAsync(2, handler);
        await using PeerMesh mesh = Mesh(1, new Dictionary<ulong, string> { [2] = server.Address.ToString() }, options: FastReconnect with { MaxBatchMessages = 50, MaxQueuedMessagesPerPeer = count });

        for (ulong round = 1; round <= count; round++)
        {
            mesh.Send(Heartbeat(1, 2, round));
        }

        await Eventually.WaitAsync(() => handler.Messages.Count == count, "every message arrived");
    }

    [Fact]
    public async Task APeerThatIsDownAtFirstReceivesLaterMessages()
    {
        int port = FreePort();
        using var handler = new RecordingHandler();
        await using PeerMesh mesh = Mesh(1, new Dictionary<ulong, string> { [2] = $"http://127.0.0.1:{port}" });
        mesh.Send(Heartbeat(1, 2, 1));
        await Eventually.WaitAsync(() => mesh.DroppedMessages >= 1, "the message to the absent peer was dropped");

        await using MeshTestServer server = await MeshTestServer.StartAsync(2, handler, port);
        ulong round = 1;
        await Eventually.WaitAsync(() => handler.Messages.Count > 0, "a message reached the peer after it came up", eachPoll: () => mesh.Send(Heartbeat(1, 2, ++round)));

        Assert.All(handler.Messages, m => Assert.True(m.ReadRound > 1));
    }

    [Fact]
    public async Task APeerThatRestartsIsReconnected()
    {
        using var before = new RecordingHandler();
        using var after = new RecordingHandler();
        MeshTestServer first = await MeshTestServer.StartAsync(2, before);
        int port = first.Port;
        await using PeerMesh mesh = Mesh(1, new Dictionary<ulong, string> { [2] = first.Address.ToString() });
        mesh.Send(Heartbeat(1, 2, 1));
        await Eventually.WaitAsync(() => before.Messages.Count == 1, "the first server received a message");

        await first.StopAsync();
        await using MeshTestServer second = await MeshTestServer.StartAsync(2, after, port);
        ulong round = 1;
        await Eventually.WaitAsync(() => after.Messages.Count > 0, "the restarted server received a message", eachPoll: () => mesh.Send(Heartbeat(1, 2, ++round)));

        Assert.Single(before.Messages);
    }

    [Fact]
    public async Task SendNeverBlocksAndCountsDropsWhenAPeerIsDown()
    {
        await using PeerMesh mesh = Mesh(1, new Dictionary<ulong, string> { [2] = $"http://127.0.0.1:{FreePort()}" }, options: FastReconnect with { MaxQueuedMessagesPerPeer = 4 });

        for (ulong round = 1; round <= 100; round++)
        {
            mesh.Send(Heartbeat(1, 2, round));
        }

        await Eventually.WaitAsync(() => mesh.DroppedMessages == 100, "every message to the dead peer was dropped");
    }

    [Fact]
    public async Task MessagesForUnknownPeersAreDropped()
    {
        await using PeerMesh mesh = Mesh(1, new Dictionary<ulong, string>());

        mesh.Send(Heartbeat(1, 7, 1));

        Assert.Equal(1, mesh.DroppedMessages);
    }

    [Fact]
    public void InvalidOptionsAreRefused()
    {
        var options = new MeshOptions { MaxBatchMessages = 0, ReconnectBackoffMinMs = 10, ReconnectBackoffMaxMs = 5 };

        Assert.Equal(2, options.Validate().Count);
        Assert.Throws<ArgumentException>(() => Mesh(1, new Dictionary<ulong, string>(), options: options));
    }

    [Fact]
    public async Task APeerThatMovesLeavesNoChannelBehindAtItsOldAddresses()
    {
        using var handler1 = new RecordingHandler();
        using var handler2 = new RecordingHandler();
        await using MeshTestServer first = await MeshTestServer.StartAsync(2, handler1);
        await using MeshTestServer second = await MeshTestServer.StartAsync(2, handler2);
        await using PeerMesh mesh = Mesh(1, new Dictionary<ulong, string> { [2] = first.Address.ToString() });
        ulong round = 0;
        await Eventually.WaitAsync(() => handler1.Messages.Count > 0, "the first address got a message", eachPoll: () => mesh.Send(Heartbeat(1, 2, ++round)));

        // A member whose address keeps changing (a restarted container, a renamed host): each move retires a channel.
        for (int move = 0; move < 10; move++)
        {
            mesh.AddPeer(2, (move % 2 == 0 ? second : first).Address.ToString());
            mesh.Send(Heartbeat(1, 2, ++round));
        }

        await Eventually.WaitAsync(() => mesh.RetiredPeerCount == 0, "every retired peer's channel was released");
        int before = handler1.Messages.Count;
        await Eventually.WaitAsync(() => handler1.Messages.Count > before, "the current address still gets messages", eachPoll: () => mesh.Send(Heartbeat(1, 2, ++round)));
    }
}
