using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.Client.Security;
using RaftKv.Grains;
using RaftKv.Integration.Tests.Infrastructure;
using RaftKv.Node;
using RaftKv.TestingHost;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Integration.Tests;

/// <summary>
/// docs/security.md against real silo processes with TLS on: peers must prove membership with a CA-signed
/// certificate before any Raft message is read, clients must authenticate before any request is handled, and limits
/// and bad input get clear errors while the nodes keep serving.
/// </summary>
[Collection("silo processes")]
public sealed class SecurityTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private const ulong ForgedTerm = 1_000;

    [Fact]
    public async Task A_peer_without_a_valid_member_certificate_cannot_change_any_nodes_term()
    {
        await using var cluster = new SiloProcessCluster(tls: true);
        ulong leader = await cluster.WaitForLeaderAsync(Deadline);
        ulong target = cluster.Members.First(m => m.Id != leader).Id;
        string certificates = cluster.CertificateDirectory!;
        string otherCa = Path.Combine(certificates, "other-ca");
        DevelopmentCertificates.CreateDirectory(otherCa, 3, ["127.0.0.1", "localhost"], [], TimeSpan.FromDays(1));
        ulong outsider = (ulong)cluster.Members.Count + 1; // the harness issued a CA-signed certificate for it, but it is no member
        ulong member = cluster.Members.First(m => m.Id != target).Id;

        var attempts = new (string What, X509Certificate2? Certificate)[]
        {
            ("no certificate", null),
            ("a member's name from another CA", LoadNode(otherCa, member)),
            ("a CA-signed certificate of a non-member", LoadNode(certificates, outsider)),
            ("a CA-signed client certificate", cluster.AdminCertificate),
        };
        foreach (NodeMember victim in cluster.Members)
        {
            ulong from = cluster.Members.First(m => m.Id != victim.Id).Id;
            foreach ((string what, X509Certificate2? certificate) in attempts)
            {
                RpcException? refused = await ForgeHeartbeatAsync(victim.PeerAddress, certificate, from, victim.Id, ForgedTerm);
                Assert.True(refused is not null, $"node {victim.Id} accepted a forged heartbeat over {what}");
            }
        }

        // A member's certificate may only speak for that member.
        NodeMember impostorTarget = cluster.Members.Single(m => m.Id == target);
        ulong impersonated = cluster.Members.First(m => m.Id != target && m.Id != member).Id;
        RpcException? impersonation = await ForgeHeartbeatAsync(impostorTarget.PeerAddress, LoadNode(certificates, member), impersonated, target, ForgedTerm);
        Assert.NotNull(impersonation);
        Assert.Equal(StatusCode.PermissionDenied, impersonation.StatusCode);

        // Nothing moved: every node still runs below the forged term (the cluster may hold an election of its own on a
        // loaded machine; it cannot reach term 1000 that way).
        await cluster.WaitForLeaderAsync(Deadline);
        foreach (NodeMember node in cluster.Members)
        {
            StatusResponse status = (await cluster.TryStatusAsync(node.Id))!;
            Assert.True(status.Term < ForgedTerm, $"node {node.Id} is at term {status.Term}");
        }
        await using (RaftKvClient client = cluster.NewClient())
        {
            await client.PutAsync("still", "serving");
        }

        // Control: the same forged heartbeat over a real member's certificate does move the target's term, so the
        // refusals above are what kept the terms where they were.
        Assert.Null(await ForgeHeartbeatAsync(impostorTarget.PeerAddress, LoadNode(certificates, member), member, target, ForgedTerm));
        await cluster.WaitUntilAsync(async () => (await cluster.TryStatusAsync(target))?.Term >= ForgedTerm, Deadline, "the control heartbeat raising the term");
    }

    [Fact]
    public async Task A_client_without_credentials_gets_unauthenticated_and_changes_nothing_and_a_token_works()
    {
        await using var cluster = new SiloProcessCluster(tls: true);
        await cluster.WaitForLeaderAsync(Deadline);
        await using RaftKvClient admin = cluster.NewClient();
        PutResult original = await admin.PutAsync("guarded", "original");

        RaftKvClientOptions anonymous = cluster.ClientOptions();
        anonymous.ClientCertificate = null;
        anonymous.MaxAttempts = 1;
        await using (var client = new RaftKvClient(anonymous))
        {
            RpcException put = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("guarded", "forged"));
            Assert.Equal(StatusCode.Unauthenticated, put.StatusCode);
            Assert.Contains("no credentials", put.Status.Detail, StringComparison.Ordinal);
            RpcException get = await Assert.ThrowsAsync<RpcException>(() => client.GetAsync("guarded"));
            Assert.Equal(StatusCode.Unauthenticated, get.StatusCode);
        }

        RaftKvClientOptions wrongToken = cluster.ClientOptions();
        wrongToken.ClientCertificate = null;
        wrongToken.MaxAttempts = 1;
        wrongToken.BearerToken = "not-the-token";
        await using (var client = new RaftKvClient(wrongToken))
        {
            RpcException put = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("guarded", "forged"));
            Assert.Equal(StatusCode.Unauthenticated, put.StatusCode);
            Assert.Contains("token is not valid", put.Status.Detail, StringComparison.Ordinal);
        }

        // A client certificate from another CA is refused at the handshake.
        string otherCa = Path.Combine(cluster.CertificateDirectory!, "other-ca");
        DevelopmentCertificates.CreateDirectory(otherCa, 1, ["127.0.0.1"], ["admin"], TimeSpan.FromDays(1));
        RaftKvClientOptions foreign = cluster.ClientOptions();
        foreign.MaxAttempts = 1;
        foreign.ClientCertificate = RaftKvCertificates.LoadCertificate(DevelopmentCertificates.ClientCertificateFile(otherCa, "admin"),
            DevelopmentCertificates.ClientKeyFile(otherCa, "admin"));
        await using (var client = new RaftKvClient(foreign))
        {
            await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("guarded", "forged"));
        }

        // Cleartext to a TLS port gets nowhere either.
        using (var plain = GrpcChannel.ForAddress(cluster.ClientAddress(1).Replace("https://", "http://", StringComparison.Ordinal)))
        {
            await Assert.ThrowsAsync<RpcException>(async () => await new KV.KVClient(plain).PutAsync(
                new PutRequest { Key = ByteString.CopyFromUtf8("guarded"), Value = ByteString.CopyFromUtf8("forged") }, deadline: DateTime.UtcNow.AddSeconds(10)));
        }

        RaftKv.Client.KvItem unchanged = (await admin.GetAsync("guarded"))!;
        Assert.Equal("original", Encoding.UTF8.GetString(unchanged.Value));
        Assert.Equal(original.ModRevision, unchanged.ModRevision);

        RaftKvClientOptions withToken = cluster.ClientOptions();
        withToken.ClientCertificate = null;
        withToken.BearerToken = cluster.ClientToken;
        await using (var client = new RaftKvClient(withToken))
        {
            PutResult put = await client.PutAsync("guarded", "by token");
            Assert.Equal("by token", Encoding.UTF8.GetString((await client.GetAsync("guarded"))!.Value));
            Assert.True(put.ModRevision > original.ModRevision);

            // The token rides on every kind of call, not only unary KV ones: the membership service and the
            // snapshot stream (both once answered UNAUTHENTICATED to a token-only client).
            MembershipResponse members = await client.MemberListAsync();
            Assert.Equal(3, members.Members.Count);
            using var backup = new MemoryStream();
            SnapshotSaveResult saved = await client.SaveSnapshotAsync(backup);
            Assert.True(saved.Index >= put.ModRevision, $"the snapshot at {saved.Index} must include the write at {put.ModRevision}");
            Assert.True(backup.Length > 0);
        }
        await using (var client = new RaftKvClient(anonymous))
        {
            RpcException list = await Assert.ThrowsAsync<RpcException>(() => client.MemberListAsync());
            Assert.Equal(StatusCode.Unauthenticated, list.StatusCode);
            await Assert.ThrowsAsync<RpcException>(() => client.SaveSnapshotAsync(new MemoryStream()));
        }
    }

    [Fact]
    public async Task Behind_a_port_mapping_a_node_still_authenticates_clients_and_serves_whatever_port_they_name()
    {
        // Node 3 listens on its own port and is reached through a forwarder at its advertised address, as behind NAT
        // or a container's published port: requests name the advertised port, connections arrive on the listen port.
        // (The client port's checks once compared the advertised port with the connection's and so checked nothing.)
        int[] ports = LoopbackPorts.Free(2);
        int listenPort = ports[0], balancerPort = ports[1];
        await using var cluster = new SiloProcessCluster(tls: true, start: false,
            nodeArguments: id => id == 3 ? [$"--RaftKv:ClientListenAddress=https://127.0.0.1:{listenPort}"] : []);
        await using var nat = TcpForwarder.Start(new Uri(cluster.ClientAddress(3)).Port, listenPort);
        // And a port that is neither (a load balancer's): routing by the Host header answered 404 there.
        await using var balancer = TcpForwarder.Start(balancerPort, listenPort);
        foreach (NodeMember member in cluster.Members) cluster.Start(member.Id);
        await cluster.WaitForLeaderAsync(Deadline);
        await using RaftKvClient admin = cluster.NewClient();
        PutResult original = await admin.PutAsync("mapped", "original");

        RaftKvClientOptions anonymous = cluster.ClientOptions(3);
        anonymous.ClientCertificate = null;
        anonymous.MaxAttempts = 1;
        foreach (string endpoint in new[] { cluster.ClientAddress(3), $"https://127.0.0.1:{balancerPort}" })
        {
            anonymous.Endpoints = [endpoint];
            await using var client = new RaftKvClient(anonymous);
            RpcException put = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("mapped", "forged"));
            Assert.Equal(StatusCode.Unauthenticated, put.StatusCode);
        }

        RaftKvClientOptions viaBalancer = cluster.ClientOptions();
        viaBalancer.Endpoints = [$"https://127.0.0.1:{balancerPort}"];
        await using (var client = new RaftKvClient(viaBalancer))
        {
            Assert.Equal(3UL, (await client.StatusAsync(viaBalancer.Endpoints[0])).NodeId);
            Assert.Equal("original", Encoding.UTF8.GetString((await client.GetAsync("mapped"))!.Value));
            await client.PutAsync("mapped", "through the balancer");
        }
        RaftKv.Client.KvItem item = (await admin.GetAsync("mapped"))!;
        Assert.Equal("through the balancer", Encoding.UTF8.GetString(item.Value));
        Assert.True(item.ModRevision > original.ModRevision);
    }

    [Fact]
    public async Task Oversized_and_malformed_inputs_on_every_port_get_clear_errors_and_the_nodes_keep_serving()
    {
        await using var cluster = new SiloProcessCluster(tls: true, extraArguments:
        [
            "--RaftKv:SnapshotThresholdBytes=1048576",
            "--RaftKv:Limits:ClientMaxReceiveMessageBytes=262144",
            "--RaftKv:Limits:PeerMaxReceiveMessageBytes=2097152",
            "--RaftKv:Limits:MaxRequestDeadlineMs=20000",
        ]);
        ulong leader = await cluster.WaitForLeaderAsync(Deadline);
        await using RaftKvClient client = cluster.NewClient();
        await client.PutAsync("kept", "1");

        // Client port: a request over the size limit, and a deadline over the maximum.
        RpcException big = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync(Encoding.UTF8.GetBytes("big"), new byte[300 * 1024]));
        Assert.Equal(StatusCode.ResourceExhausted, big.StatusCode);
        Assert.Contains("maximum", big.Status.Detail, StringComparison.OrdinalIgnoreCase);
        using (GrpcChannel channel = cluster.HarnessChannel(cluster.ClientAddress(leader)))
        {
            var kv = new KV.KVClient(channel);
            RpcException tooLong = await Assert.ThrowsAsync<RpcException>(async () => await kv.StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddMinutes(5)));
            Assert.Equal(StatusCode.InvalidArgument, tooLong.StatusCode);
            Assert.Contains("MaxRequestDeadlineMs=20000", tooLong.Status.Detail, StringComparison.Ordinal);
            Assert.Equal(leader, (await kv.StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(10))).NodeId);
            Assert.Equal(leader, (await kv.StatusAsync(new StatusRequest())).NodeId); // no deadline: the server's maximum applies
        }

        // Peer port, from a real member: an oversized batch and an undecodable one.
        ulong follower = cluster.Members.First(m => m.Id != leader).Id;
        string followerPeer = cluster.Members.Single(m => m.Id == follower).PeerAddress;
        X509Certificate2 leaderCertificate = LoadNode(cluster.CertificateDirectory!, leader);
        var oversized = new Wire.MessageBatch();
        oversized.Messages.Add(new Wire.RaftMessage
        {
            Type = Wire.RaftMessageType.Heartbeat, From = leader, To = follower, Term = 1,
            Entries = { new Wire.Entry { Index = 1, Term = 1, Data = ByteString.CopyFrom(new byte[3 * 1024 * 1024]) } },
        });
        RpcException? tooBig = await SendBatchAsync(followerPeer, leaderCertificate, oversized);
        Assert.NotNull(tooBig);
        Assert.Equal(StatusCode.ResourceExhausted, tooBig.StatusCode);
        (int status, string message) = await PostRawGrpcAsync(followerPeer, leaderCertificate, "/raftkv.peer.v1.RaftPeer/Send", [0, 0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        Assert.Equal((int)StatusCode.InvalidArgument, status);
        Assert.NotEmpty(message);

        // Garbage on every port of every node: gRPC ports and Orleans' silo and gateway ports.
        var endpoints = cluster.Members.SelectMany(m => new[] { Endpoint(m.ClientAddress), Endpoint(m.PeerAddress) })
            .Concat(cluster.OrleansSiloEndpoints).Concat(cluster.OrleansGateways).ToList();
        foreach (IPEndPoint endpoint in endpoints)
        {
            await SendGarbageAsync(endpoint);
        }

        // Every node still serves (each answers Status and knows the leader), and so does the cluster.
        await cluster.WaitForLeaderAsync(Deadline);
        Assert.Equal("1", Encoding.UTF8.GetString((await client.GetAsync("kept"))!.Value));
        await client.PutAsync("after", "2");
        Assert.Equal("2", Encoding.UTF8.GetString((await client.GetAsync("after"))!.Value));
    }

    [Fact]
    public async Task Orleans_connections_use_mutual_tls_and_an_Orleans_client_with_a_ca_signed_certificate_works()
    {
        await using var cluster = new SiloProcessCluster(tls: true);
        await cluster.WaitForLeaderAsync(Deadline);
        IPEndPoint silo = cluster.OrleansSiloEndpoints.First();

        // The silo and gateway ports answer TLS with a node certificate and refuse a connection without a client
        // certificate or with one from another CA. On Linux the client may see its handshake finish before the server
        // refuses, so the proof is the server's own account: Orleans logs the failed authentication, and RaftKv's
        // validator logs why it turned the foreign certificate down.
        string otherCa = Path.Combine(cluster.CertificateDirectory!, "other-ca");
        DevelopmentCertificates.CreateDirectory(otherCa, 1, ["127.0.0.1"], [], TimeSpan.FromDays(1));
        foreach (IPEndPoint port in new[] { silo, cluster.OrleansGateways.First() })
        {
            X509Certificate2 presented = await HandshakeAsync(port, cluster.AdminCertificate, SslProtocols.Tls12);
            Assert.NotEmpty(RaftKvCertificates.NodeIds(presented));
            foreach (X509Certificate2? refused in new[] { null, LoadNode(otherCa, 1) })
            {
                await AssertRefusedAsync(port, refused);
            }
        }
        int Count(string text) => cluster.Log(1).Split('\n').Count(line => line.Contains(text, StringComparison.Ordinal));
        await cluster.WaitUntilAsync(() => Task.FromResult(Count("TlsServerConnectionMiddleware[1] Authentication failed") >= 4
                && Count("Refused an Orleans connection's certificate: CN=raftkv-node-1") >= 2),
            Deadline, "node 1 refusing both connections on its silo and gateway ports");

        using IHost orleans = await cluster.StartOrleansClientAsync(Deadline);
        IKvGrain grain = orleans.Services.GetRequiredService<IClusterClient>().GetKvGrain("orleans/tls");
        KvWriteResult put = await grain.PutAsync(Encoding.UTF8.GetBytes("over TLS"));
        Assert.Equal(KvWriteStatus.Ok, put.Status);
        await using RaftKvClient grpc = cluster.NewClient();
        Assert.Equal("over TLS", Encoding.UTF8.GetString((await grpc.GetAsync("orleans/tls"))!.Value));
        await orleans.StopAsync();
    }

    [Fact]
    public async Task A_rotated_node_certificate_is_served_without_a_restart()
    {
        await using var cluster = new SiloProcessCluster(tls: true, extraArguments: ["--RaftKv:SnapshotThresholdBytes=1048576", "--RaftKv:Security:ReloadIntervalMs=200"]);
        await cluster.WaitForLeaderAsync(Deadline);
        IPEndPoint client1 = Endpoint(cluster.ClientAddress(1));
        string before = (await HandshakeAsync(client1, cluster.AdminCertificate)).Thumbprint;

        string directory = cluster.CertificateDirectory!;
        using X509Certificate2 authority = X509Certificate2.CreateFromPemFile(DevelopmentCertificates.CaFile(directory), DevelopmentCertificates.CaKeyFile(directory));
        using X509Certificate2 renewed = DevelopmentCertificates.IssueNode(authority, 1, ["127.0.0.1", "localhost"], TimeSpan.FromDays(2));
        string staging = Path.Combine(directory, "staging");
        Directory.CreateDirectory(staging);
        DevelopmentCertificates.WritePem(renewed, Path.Combine(staging, "node1.pem"), Path.Combine(staging, "node1-key.pem"));
        File.Move(Path.Combine(staging, "node1-key.pem"), DevelopmentCertificates.NodeKeyFile(directory, 1), overwrite: true);
        File.Move(Path.Combine(staging, "node1.pem"), DevelopmentCertificates.NodeCertificateFile(directory, 1), overwrite: true);

        await cluster.WaitUntilAsync(async () => (await HandshakeAsync(client1, cluster.AdminCertificate)).Thumbprint == renewed.Thumbprint,
            Deadline, "node 1 serving the renewed certificate");
        Assert.NotEqual(before, renewed.Thumbprint);
        Assert.Contains("Reloaded the TLS material", cluster.Log(1), StringComparison.Ordinal);
        await using RaftKvClient client = cluster.NewClient(1);
        await client.PutAsync("after-rotation", "ok");
        Assert.Equal("ok", Encoding.UTF8.GetString((await client.GetAsync("after-rotation"))!.Value));
    }

    private static X509Certificate2 LoadNode(string directory, ulong id) =>
        RaftKvCertificates.LoadCertificate(DevelopmentCertificates.NodeCertificateFile(directory, id), DevelopmentCertificates.NodeKeyFile(directory, id));

    private static IPEndPoint Endpoint(string address)
    {
        var uri = new Uri(address);
        return new IPEndPoint(IPAddress.Parse(uri.Host), uri.Port);
    }

    /// <summary>An attacker's channel: presents <paramref name="certificate"/> (or none) and trusts any server.</summary>
    private static GrpcChannel AttackerChannel(string address, X509Certificate2? certificate) => GrpcChannel.ForAddress(address, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate!,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            },
        },
        DisposeHttpClient = true,
        MaxSendMessageSize = null,
    });

    /// <summary>Sends one heartbeat at <paramref name="term"/>; returns how the call failed, or null if the peer took it.</summary>
    private static Task<RpcException?> ForgeHeartbeatAsync(string peerAddress, X509Certificate2? certificate, ulong from, ulong to, ulong term)
    {
        var batch = new Wire.MessageBatch();
        batch.Messages.Add(new Wire.RaftMessage { Type = Wire.RaftMessageType.Heartbeat, From = from, To = to, Term = term });
        return SendBatchAsync(peerAddress, certificate, batch);
    }

    private static async Task<RpcException?> SendBatchAsync(string peerAddress, X509Certificate2? certificate, Wire.MessageBatch batch)
    {
        using GrpcChannel channel = AttackerChannel(peerAddress, certificate);
        using var call = new Wire.RaftPeer.RaftPeerClient(channel).Send(deadline: DateTime.UtcNow.AddSeconds(15));
        try
        {
            await call.RequestStream.WriteAsync(batch);
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is IOException or RpcException or InvalidOperationException)
        {
            // The server may answer (an oversized message is refused from its header) and end the stream while the
            // request is still being written, more often on a busy machine: its answer is the call's status, below.
        }
        try
        {
            await call.ResponseAsync;
            return null;
        }
        catch (RpcException e)
        {
            return e;
        }
        catch (IOException e)
        {
            return new RpcException(new Status(StatusCode.Unavailable, e.Message, e));
        }
    }

    /// <summary>POSTs a raw gRPC body over mutual TLS; returns grpc-status and grpc-message.</summary>
    private static async Task<(int Status, string Message)> PostRawGrpcAsync(string address, X509Certificate2 certificate, string path, byte[] body)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            },
        })
        { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        using HttpResponseMessage response = await http.PostAsync(address + path, content);
        await response.Content.ReadAsByteArrayAsync();
        string? Header(string name) => response.TrailingHeaders.TryGetValues(name, out var values) ? values.First()
            : response.Headers.TryGetValues(name, out var headerValues) ? headerValues.First() : null;
        return (int.Parse(Header("grpc-status") ?? "-1", System.Globalization.CultureInfo.InvariantCulture), Uri.UnescapeDataString(Header("grpc-message") ?? ""));
    }

    private static async Task<X509Certificate2> HandshakeAsync(IPEndPoint endpoint, X509Certificate2? certificate, SslProtocols protocols = SslProtocols.None)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(endpoint);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "127.0.0.1",
            EnabledSslProtocols = protocols,
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate!,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        return X509CertificateLoader.LoadCertificate(tls.RemoteCertificate!.GetRawCertData());
    }

    /// <summary>
    /// Connects with <paramref name="certificate"/> and waits until the server ends the connection: it refuses in the
    /// handshake, or (the client may see a TLS 1.2 handshake finish before the server validates the certificate) right
    /// after it. Staying connected until then also lets the server finish its side and log why, which a client that hung
    /// up at once could cut short on a busy machine.
    /// </summary>
    private static async Task AssertRefusedAsync(IPEndPoint endpoint, X509Certificate2? certificate)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(endpoint);
        await using var tls = new SslStream(tcp.GetStream());
        using var deadline = new CancellationTokenSource(Deadline);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "127.0.0.1",
                EnabledSslProtocols = SslProtocols.Tls12,
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate!,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, deadline.Token);
            int read = await tls.ReadAsync(new byte[1], deadline.Token);
            Assert.Equal(0, read);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            // Refused.
        }
    }

    private static async Task SendGarbageAsync(IPEndPoint endpoint)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(endpoint);
        NetworkStream stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GARBAGE\r\n\r\n\x00\x01\x02 neither TLS nor HTTP/2 nor Orleans"));
        var buffer = new byte[256];
        using var read = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            while (await stream.ReadAsync(buffer, read.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
        }
    }
}
