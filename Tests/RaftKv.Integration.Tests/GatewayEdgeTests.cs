using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using RaftKv.Client;
using Grpc.Core;
using RaftKv.Integration.Tests.Infrastructure;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>Bad input and third-party clients against a real cluster.</summary>
[Collection("silo processes")]
public sealed class GatewayEdgeTests
{
    [Fact]
    public async Task Bad_input_gets_a_clear_error_changes_nothing_and_the_nodes_keep_serving()
    {
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        await using RaftKvClient client = cluster.NewClient();
        await client.PutAsync("kept", "1");

        RpcException emptyKey = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync("", "x"));
        Assert.Equal(StatusCode.InvalidArgument, emptyKey.StatusCode);
        RpcException bigKey = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync(new string('k', 5000), "x"));
        Assert.Equal(StatusCode.InvalidArgument, bigKey.StatusCode);
        Assert.Contains("key", bigKey.Status.Detail, StringComparison.OrdinalIgnoreCase);
        RpcException bigValue = await Assert.ThrowsAsync<RpcException>(() => client.PutAsync(Encoding.UTF8.GetBytes("v"), new byte[(1 << 20) + 1]));
        Assert.Equal(StatusCode.InvalidArgument, bigValue.StatusCode);

        // Garbage on both ports of every node, and a gRPC request whose frame is cut short.
        foreach (var member in cluster.Members)
        {
            await SendGarbageAsync(member.ClientAddress);
            await SendGarbageAsync(member.PeerAddress);
        }
        using (var http = new HttpClient(new SocketsHttpHandler()) { DefaultRequestVersion = new Version(2, 0), DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact })
        {
            var truncated = new ByteArrayContent([0, 0, 0, 0, 100, 1, 2, 3]); // says 100 bytes, carries 3
            truncated.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            using HttpResponseMessage response = await http.PostAsync(cluster.ClientAddress(leader) + "/raftkv.v1.KV/Get", truncated);
            await response.Content.ReadAsByteArrayAsync();
            string? status = response.TrailingHeaders.TryGetValues("grpc-status", out var values) ? values.First()
                : response.Headers.TryGetValues("grpc-status", out var headerValues) ? headerValues.First() : null;
            Assert.NotNull(status);
            Assert.NotEqual("0", status);
        }

        Assert.Equal("1", Encoding.UTF8.GetString((await client.GetAsync("kept"))!.Value));
        await client.PutAsync("after", "2");
        Assert.Equal("2", Encoding.UTF8.GetString((await client.GetAsync("after"))!.Value));
    }

    [Fact]
    public async Task A_stock_grpc_js_client_using_only_the_published_proto_can_put_get_and_see_errors()
    {
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await NodeInterop.EnsureDependenciesAsync(limit.Token);
        string proto = Path.GetFullPath(Path.Combine(NodeInterop.InteropDirectory, "..", "..", "Client", "RaftKv.Client", "Protos", "raftkv.proto"));

        ProcessResult run = await NodeInterop.RunAsync("node", ["kv-client.js", new Uri(cluster.ClientAddress(leader)).Authority, proto], limit.Token);

        Assert.True(run.ExitCode == 0, $"node exited with {run.ExitCode}:\n{run.StandardError}\n{run.StandardOutput}");
        using JsonDocument result = JsonDocument.Parse(run.StandardOutput);
        JsonElement root = result.RootElement;
        Assert.Equal(0, root.GetProperty("session").GetProperty("code").GetInt32());
        Assert.Equal(0, root.GetProperty("put").GetProperty("code").GetInt32());
        Assert.Equal("from grpc-js", root.GetProperty("get").GetProperty("value").GetString());
        Assert.Equal((int)StatusCode.InvalidArgument, root.GetProperty("emptyKey").GetProperty("code").GetInt32());
        Assert.Contains("key", root.GetProperty("emptyKey").GetProperty("details").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    private static async Task SendGarbageAsync(string address)
    {
        var uri = new Uri(address);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        NetworkStream stream = tcp.GetStream();
        byte[] junk = Encoding.ASCII.GetBytes("GARBAGE\r\n\r\n\x00\x01\x02 not http/2 at all");
        await stream.WriteAsync(junk);
        var buffer = new byte[256];
        using var read = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            while (await stream.ReadAsync(buffer, read.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
        }
    }
}
