using System.Diagnostics;
using System.Text.Json;
using RaftKv.Grpc.Client;
using RaftKv.Grpc.Tests.Infrastructure;
using RaftKv.Grpc.Tests.Protos;

namespace RaftKv.Grpc.Tests;

/// <summary>
/// Interoperability with a real third-party implementation (@grpc/grpc-js on Node.js), in
/// both directions, using nothing shared but Protos/test.proto.
/// </summary>
public sealed class InteropTests : IClassFixture<GrpcServerFixture>
{
    private static readonly TimeSpan ProcessLimit = TimeSpan.FromMinutes(3);
    private readonly GrpcTestServer _server;

    public InteropTests(GrpcServerFixture fixture)
    {
        _server = fixture.Server;
    }

    [Fact]
    public async Task GrpcJsClient_CallsOurServer()
    {
        using var limit = new CancellationTokenSource(ProcessLimit);
        await NodeInterop.EnsureDependenciesAsync(limit.Token);

        ProcessResult run = await NodeInterop.RunAsync(
            "node", ["echo-client.js", _server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), NodeInterop.ProtoPath], limit.Token);

        Assert.True(run.ExitCode == 0, $"node exited with {run.ExitCode}:\n{run.StandardError}\n{run.StandardOutput}");
        using JsonDocument result = JsonDocument.Parse(run.StandardOutput);
        JsonElement root = result.RootElement;

        Assert.Equal(0, root.GetProperty("unary").GetProperty("code").GetInt32());
        Assert.Equal("hello from grpc-js", root.GetProperty("unary").GetProperty("message").GetString());
        Assert.StartsWith("ipv4:127.0.0.1:", root.GetProperty("unary").GetProperty("peer").GetString(), StringComparison.Ordinal);

        Assert.Equal((int)StatusCode.NotFound, root.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("clé introuvable ✓", root.GetProperty("error").GetProperty("details").GetString());

        Assert.Equal(0, root.GetProperty("serverStream").GetProperty("code").GetInt32());
        Assert.Equal(["s#0", "s#1", "s#2"], root.GetProperty("serverStream").GetProperty("messages").EnumerateArray().Select(e => e.GetString()));

        Assert.Equal(0, root.GetProperty("duplex").GetProperty("code").GetInt32());
        Assert.Equal(["a", "b", "c"], root.GetProperty("duplex").GetProperty("replies").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task OurClient_CallsGrpcJsServer()
    {
        using var limit = new CancellationTokenSource(ProcessLimit);
        await NodeInterop.EnsureDependenciesAsync(limit.Token);

        using Process server = NodeInterop.Start("node", ["echo-server.js", NodeInterop.ProtoPath], redirectStandardInput: true);
        try
        {
            string? line = await server.StandardOutput.ReadLineAsync(limit.Token);
            Assert.True(line?.StartsWith("LISTENING ", StringComparison.Ordinal) == true, $"Unexpected node output '{line}': {await ReadErrorsAsync(server)}");
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{line!["LISTENING ".Length..]}");

            EchoReply reply = await channel.UnaryAsync(
                EchoService.Unary, new EchoRequest { Message = "hi node" }, new CallOptions { Headers = [new("x-test", "meta")], Deadline = DateTimeOffset.UtcNow.AddMinutes(1) }, limit.Token);
            Assert.Equal("hi node", reply.Message);
            Assert.Equal("meta", reply.Metadata);

            RpcException error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(
                EchoService.Unary, new EchoRequest { FailWithStatus = (int)StatusCode.AlreadyExists, FailMessage = "déjà là ✓" }, cancellationToken: limit.Token));
            Assert.Equal(StatusCode.AlreadyExists, error.StatusCode);
            Assert.Equal("déjà là ✓", error.Detail);

            var streamed = new List<string>();
            await foreach (EchoReply item in channel.ServerStreamingAsync(EchoService.ServerStream, new EchoRequest { Message = "n", Count = 3 }, cancellationToken: limit.Token))
            {
                streamed.Add(item.Message);
            }

            Assert.Equal(["n#0", "n#1", "n#2"], streamed);

            using (ClientStreamingCall<EchoRequest, EchoReply> call = channel.ClientStreaming(EchoService.ClientStream, cancellationToken: limit.Token))
            {
                await call.RequestStream.WriteAsync(new EchoRequest { Message = "x" }, limit.Token);
                await call.RequestStream.WriteAsync(new EchoRequest { Message = "y" }, limit.Token);
                await call.RequestStream.CompleteAsync(limit.Token);
                EchoReply aggregate = await call.ResponseAsync;
                Assert.Equal("x,y", aggregate.Message);
                Assert.Equal(2, aggregate.Index);
            }

            using (DuplexStreamingCall<EchoRequest, EchoReply> call = channel.DuplexStreaming(EchoService.Duplex, cancellationToken: limit.Token))
            {
                await using IAsyncEnumerator<EchoReply> responses = call.ReadAllAsync(limit.Token).GetAsyncEnumerator(limit.Token);
                for (int i = 0; i < 3; i++)
                {
                    await call.RequestStream.WriteAsync(new EchoRequest { Message = $"p{i}" }, limit.Token);
                    Assert.True(await responses.MoveNextAsync());
                    Assert.Equal($"p{i}", responses.Current.Message);
                }

                await call.RequestStream.CompleteAsync(limit.Token);
                Assert.False(await responses.MoveNextAsync());
            }
        }
        finally
        {
            server.StandardInput.Close();
            using var exitLimit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await server.WaitForExitAsync(exitLimit.Token);
            }
            catch (OperationCanceledException)
            {
                server.Kill(entireProcessTree: true);
            }
        }
    }

    private static async Task<string> ReadErrorsAsync(Process process)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            return await process.StandardError.ReadToEndAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            return "(no stderr)";
        }
    }
}
