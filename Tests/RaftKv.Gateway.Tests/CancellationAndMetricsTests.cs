using System.Diagnostics;
using System.Diagnostics.Metrics;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RaftKv.Client.Protos;
using RaftKv.ClientGateway;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

/// <summary>
/// A client that gives up on its call is an outcome, not a server failure: the gateway answers CANCELLED, logs it
/// at Debug only, and counts it by method and status like every other request.
/// </summary>
public sealed class CancellationAndMetricsTests
{
    [Fact]
    public async Task A_call_the_client_cancels_is_counted_as_cancelled_and_not_logged_as_a_server_failure()
    {
        using var logs = new RecordingLoggerProvider();
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node, logs: logs);
        Meter gateway = server.Services.GetRequiredService<KvGatewayService>().Metrics.Meter;
        var requests = new List<(string Method, string Status)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == gateway && instrument.Name == "raftkv.gateway.requests") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string method = "", status = "";
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "method") method = (string)tag.Value!;
                if (tag.Key == "status") status = (string)tag.Value!;
            }
            lock (requests) requests.Add((method, status));
        });
        listener.Start();

        var (channel, kv) = server.CreateKvClient();
        using (channel)
        {
            await kv.PutAsync(new PutRequest
            {
                SessionId = (await kv.RegisterSessionAsync(new RegisterSessionRequest())).SessionId,
                Sequence = 1,
                Key = ByteString.CopyFromUtf8("k"),
                Value = ByteString.CopyFromUtf8("v"),
            });
            node.HoldReads = true;
            using var cancel = new CancellationTokenSource();
            AsyncUnaryCall<GetResponse> call = kv.GetAsync(new GetRequest { Key = ByteString.CopyFromUtf8("k") }, cancellationToken: cancel.Token);
            await WaitUntilAsync(() => node.ReadsStarted >= 1, "the read reaching the node");
            cancel.Cancel();
            RpcException refused = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal(StatusCode.Cancelled, refused.StatusCode);

            // The server notices the reset stream on its own schedule: wait for its verdict, then look at the log.
            await WaitUntilAsync(() => logs.Entries.Any(e => e.Category.EndsWith(nameof(KvGatewayService), StringComparison.Ordinal) && e.EventId.Id == 2005),
                "the gateway recording the cancelled Get");
            await WaitUntilAsync(() => { lock (requests) return requests.Contains(("Get", "CANCELLED")); }, "the cancelled Get being counted");
        }

        var failures = logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Level} {e.Category}[{e.EventId.Id}] {e.Message}").ToList();
        Assert.True(failures.Count == 0, "a cancelled call was logged as a failure:\n" + string.Join("\n", failures));
        lock (requests)
        {
            Assert.Contains(("RegisterSession", "OK"), requests);
            Assert.Contains(("Put", "OK"), requests);
        }
    }

    [Fact]
    public async Task Refused_requests_are_counted_with_their_status_code()
    {
        using var node = new FakeRaftKvNode(1);
        await using var server = await GatewayTestServer.StartAsync(node);
        Meter gateway = server.Services.GetRequiredService<KvGatewayService>().Metrics.Meter;
        var statuses = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == gateway && instrument.Name == "raftkv.gateway.request.duration") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            Assert.True(seconds >= 0);
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "status") lock (statuses) statuses.Add((string)tag.Value!);
            }
        });
        listener.Start();

        var (channel, kv) = server.CreateKvClient();
        using (channel)
        {
            // Session 0 is never registered: the state machine refuses the write, nothing is applied.
            RpcException refused = await Assert.ThrowsAsync<RpcException>(() => kv.PutAsync(new PutRequest
            {
                SessionId = 0, Sequence = 1, Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v"),
            }).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        }
        lock (statuses) Assert.Contains("INVALID_ARGUMENT", statuses);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException($"{what} did not happen within 20 s");
            await Task.Delay(10);
        }
    }
}
