using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Grpc.Core;
using Grpc.Net.Client;
using RaftKv.Mesh.Tests.Infrastructure;
using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh.Tests;

public sealed class PeerSnapshotAndRobustnessTests : IDisposable
{
    private static readonly MeshOptions FastReconnect = new() { ReconnectBackoffMinMs = 5, ReconnectBackoffMaxMs = 100 };
    private readonly string _root = Directory.CreateTempSubdirectory("raftkv-mesh-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private SnapshotStore Store(string name)
    {
        string directory = Path.Combine(_root, name);
        Directory.CreateDirectory(directory);
        return SnapshotStore.Open(PhysicalFileSystem.Instance, directory);
    }

    private static Message Heartbeat(ulong to, ulong round) =>
        new() { Type = MessageType.Heartbeat, From = 1, To = to, Term = 3, ReadRound = round };

    [Fact]
    public async Task ASnapshotTransferResumesAfterARejectedChunkAndEndsWithIdenticalBytes()
    {
        const int chunkSizeBytes = 8 * 1024;
        byte[] data = new byte[300 * 1024 + 123];
        new Random(7).NextBytes(data);
        SnapshotStore senderStore = Store("sender");
        var latest = new SnapshotMetadata(500, 4, new ClusterConfiguration([1, 2, 3]));
        senderStore.Save(latest, data);
        SnapshotStore receiverStore = Store("receiver");
        using var sender = new RecordingHandler(sendFrom: senderStore, transferOptions: new SnapshotTransferOptions { ChunkSizeBytes = chunkSizeBytes });
        using var receiver = new RecordingHandler(receiveInto: receiverStore);
        receiver.CorruptChunkOnce(5 * chunkSizeBytes);
        await using MeshTestServer server = await MeshTestServer.StartAsync(2, receiver);
        await using var mesh = new PeerMesh(1, new Dictionary<ulong, string> { [2] = server.Address.ToString() }, sender, FastReconnect, NullLogger.Instance);

        // Raft named an older snapshot; the mesh sends the latest one and says so.
        mesh.Send(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 4, Snapshot = latest with { Index = 300 } });

        await Eventually.WaitAsync(() => receiver.Installed is not null, "the snapshot was published");
        Assert.Equal(latest, receiver.Installed!.Snapshot);
        Assert.Equal(latest, receiverStore.Latest);
        Assert.Equal(data, receiverStore.ReadLatestData());
        Assert.Single(receiver.Receipts, r => r.Outcome == ChunkOutcome.ChunkChecksumMismatch);
        Assert.Equal((data.Length + chunkSizeBytes - 1) / chunkSizeBytes + 1, receiver.Receipts.Count);
        Assert.Empty(sender.SnapshotFailures);
    }

    [Fact]
    public async Task ASnapshotTransferToAnUnreachablePeerReportsFailure()
    {
        SnapshotStore senderStore = Store("sender");
        senderStore.Save(new SnapshotMetadata(10, 1, new ClusterConfiguration([1, 2])), new byte[100]);
        using var sender = new RecordingHandler(sendFrom: senderStore);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var mesh = new PeerMesh(1, new Dictionary<ulong, string> { [2] = $"http://127.0.0.1:{port}" }, sender, FastReconnect, NullLogger.Instance);

        mesh.Send(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 1, Snapshot = senderStore.Latest });

        await Eventually.WaitAsync(() => sender.SnapshotFailures.Count == 1, "the failure was reported");
        Assert.Equal(2UL, sender.SnapshotFailures[0]);
    }

    [Fact]
    public async Task ASnapshotTransferWhoseReceiverStopsAnsweringGivesUpAtTheReceiptTimeout()
    {
        // The receiver hangs on the fourth chunk with the connection up, so no keep-alive ping fails for a minute or
        // more: the transfer must give up on its own, and Raft sends the snapshot again later.
        const int chunkSizeBytes = 8 * 1024;
        SnapshotStore senderStore = Store("sender");
        senderStore.Save(new SnapshotMetadata(10, 1, new ClusterConfiguration([1, 2])), new byte[100 * 1024]);
        using var sender = new RecordingHandler(sendFrom: senderStore, transferOptions: new SnapshotTransferOptions { ChunkSizeBytes = chunkSizeBytes });
        using var receiver = new RecordingHandler(receiveInto: Store("receiver"));
        receiver.StallAtChunk(3 * chunkSizeBytes);
        await using MeshTestServer server = await MeshTestServer.StartAsync(2, receiver);
        await using var mesh = new PeerMesh(1, new Dictionary<ulong, string> { [2] = server.Address.ToString() }, sender,
            FastReconnect with { SnapshotChunkReceiptTimeout = TimeSpan.FromSeconds(5) }, NullLogger.Instance);

        mesh.Send(new Message { Type = MessageType.InstallSnapshot, From = 1, To = 2, Term = 1, Snapshot = senderStore.Latest });

        await Eventually.WaitAsync(() => sender.SnapshotFailures.Count == 1, "the stalled transfer was given up");
        Assert.Equal(2UL, sender.SnapshotFailures[0]);
        Assert.Equal(3, receiver.Receipts.Count);
        Assert.Null(receiver.Installed);
    }

    [Fact]
    public async Task GarbageBytesOnThePeerPortDoNotStopTheServer()
    {
        using var handler = new RecordingHandler();
        await using MeshTestServer server = await MeshTestServer.StartAsync(2, handler);
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, server.Port);
            NetworkStream stream = client.GetStream();
            byte[] garbage = new byte[4096];
            new Random(3).NextBytes(garbage);
            await stream.WriteAsync(garbage);
            byte[] sink = new byte[1024];
            using var deadline = new CancellationTokenSource(Eventually.DefaultDeadline);
            while (await stream.ReadAsync(sink, deadline.Token) > 0)
            {
                // Kestrel answers with a GOAWAY and closes; read until it does.
            }
        }

        await AssertStillServesAsync(server, handler);
    }

    [Fact]
    public async Task AMalformedProtobufOnTheSendStreamIsRefusedAndTheServerKeepsServing()
    {
        using var handler = new RecordingHandler();
        await using MeshTestServer server = await MeshTestServer.StartAsync(2, handler);
        // A frame whose payload is not a MessageBatch: field 1 (length-delimited) claiming more bytes than follow.
        byte[] payload = [0x0A, 0x7F, 0x01, 0x02];
        byte[] frame = [0, 0, 0, 0, (byte)payload.Length, .. payload];

        StatusCode status = await SendRawAsync(server, frame);

        Assert.Equal(StatusCode.InvalidArgument, status);
        await AssertStillServesAsync(server, handler);
    }

    [Fact]
    public async Task UnknownMessageTypesAndMisaddressedMessagesAreRefusedOrDropped()
    {
        using var handler = new RecordingHandler();
        await using MeshTestServer server = await MeshTestServer.StartAsync(2, handler);
        using GrpcChannel channel = GrpcChannel.ForAddress(server.Address);
        var client = new Wire.RaftPeer.RaftPeerClient(channel);

        Wire.RaftMessage unknownType = RaftMessageCodec.ToProto(Heartbeat(2, 1));
        unknownType.Type = (Wire.RaftMessageType)99;
        using (AsyncClientStreamingCall<Wire.MessageBatch, Google.Protobuf.WellKnownTypes.Empty> call = client.Send())
        {
            await call.RequestStream.WriteAsync(new Wire.MessageBatch { Messages = { RaftMessageCodec.ToProto(Heartbeat(2, 7)), unknownType } });
            await call.RequestStream.CompleteAsync();
            RpcException refused = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        }
        using (AsyncClientStreamingCall<Wire.MessageBatch, Google.Protobuf.WellKnownTypes.Empty> call = client.Send())
        {
            await call.RequestStream.WriteAsync(new Wire.MessageBatch { Messages = { RaftMessageCodec.ToProto(Heartbeat(5, 8)), RaftMessageCodec.ToProto(Heartbeat(2, 9)) } });
            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        }

        // The refused batch delivered nothing, the misaddressed message was dropped.
        Assert.Equal([9UL], handler.Messages.Select(m => m.ReadRound));
    }

    private static async Task AssertStillServesAsync(MeshTestServer server, RecordingHandler handler)
    {
        await using var mesh = new PeerMesh(1, new Dictionary<ulong, string> { [2] = server.Address.ToString() }, new RecordingHandler(), FastReconnect, NullLogger.Instance);
        mesh.Send(Heartbeat(2, 42));
        await Eventually.WaitAsync(() => handler.Messages.Any(m => m.ReadRound == 42), "a valid message was delivered afterwards");
    }

    private static async Task<StatusCode> SendRawAsync(MeshTestServer server, byte[] body)
    {
        using var client = new HttpClient(new SocketsHttpHandler());
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Address, $"/{PeerService.ServiceName}/Send"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        using HttpResponseMessage response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        foreach (HttpHeaders headers in new HttpHeaders[] { response.Headers, response.TrailingHeaders })
        {
            if (headers.TryGetValues("grpc-status", out IEnumerable<string>? values))
            {
                return (StatusCode)int.Parse(values.Single(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException("the response carried no grpc-status");
    }
}
