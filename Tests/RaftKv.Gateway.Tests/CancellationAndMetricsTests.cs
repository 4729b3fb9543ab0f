using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.IO.Pipelines;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
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
            // The request counter is observable: a collection (a /metrics scrape) reads it.
            await WaitUntilAsync(() =>
            {
                listener.RecordObservableInstruments();
                lock (requests) return requests.Contains(("Get", "CANCELLED"));
            }, "the cancelled Get being counted");
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
    public async Task A_client_reset_that_fails_the_request_read_before_the_abort_arrives_is_not_logged_as_a_server_failure()
    {
        using var logs = new RecordingLoggerProvider();
        using var node = new FakeRaftKvNode(1);
        var time = new TimerCountingTimeProvider();
        var reset = new TaskCompletionSource<(HttpContext Context, int TimersBefore)>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Kestrel's order when a client resets its stream while the request is still being read: the read fails at
        // once, RequestAborted is cancelled later. Grpc.AspNetCore logs the failure at Error unless the abort is
        // already visible, so without the gateway's ordering this logs "Error when executing service method".
        await using var server = await GatewayTestServer.StartAsync(node, time, logs: logs, middleware: app => app.Use((context, next) =>
        {
            context.Features.Set<IRequestBodyPipeFeature>(new ResetWhileReading(() => reset.TrySetResult((context, time.TimersCreated))));
            return next(context);
        }));
        bool Verdict() => logs.Entries.Any(e => e.Category == "Grpc.AspNetCore.Server.ServerCallHandler" && e.EventId.Id is 6 or 28);
        var (channel, kv) = server.CreateKvClient();
        using (channel)
        {
            AsyncUnaryCall<PutResponse> call = kv.PutAsync(new PutRequest
            {
                SessionId = 1, Sequence = 1, Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v"),
            });
            (HttpContext request, int timersBefore) = await reset.Task.WaitAsync(TimeSpan.FromSeconds(20));
            // The abort arrives once the failed read is either waiting for it (the gateway's ordering starts its
            // bounded wait, a timer) or already judged by Grpc.AspNetCore (no ordering): never before either.
            await WaitUntilAsync(() => time.TimersCreated > timersBefore || Verdict(), "the failed read waiting for the abort, or Grpc.AspNetCore's verdict");
            if (!Verdict()) request.Abort(); // a judged call has ended, and its HttpContext with it
            await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        }
        await WaitUntilAsync(Verdict, "Grpc.AspNetCore's verdict on the reset call");
        var failures = logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Level} {e.Category}[{e.EventId.Id}] {e.Message}").ToList();
        Assert.True(failures.Count == 0, "a reset call was logged as a failure:\n" + string.Join("\n", failures));
        Assert.Equal(0UL, node.StateMachine.AppliedIndex);
    }

    [Fact]
    public async Task A_failed_body_read_without_an_abort_still_surfaces_after_the_wait()
    {
        using var neverAborted = new CancellationTokenSource();
        var time = new FakeTimeProvider();
        var pipe = new Pipe();
        await pipe.Writer.CompleteAsync(new IOException("broken"));
        var reader = new AbortAwareBodyReader(pipe.Reader, neverAborted.Token, TimeSpan.FromSeconds(1), time);
        Task<ReadResult> read = reader.ReadAsync().AsTask();
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(read.IsCompleted, "the failed read surfaced before the wait was over");
        time.Advance(TimeSpan.FromMilliseconds(1));
        IOException failure = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("broken", failure.Message);
    }

    [Fact]
    public async Task A_failed_body_read_surfaces_when_the_abort_arrives()
    {
        using var abort = new CancellationTokenSource();
        var pipe = new Pipe();
        var reader = new AbortAwareBodyReader(pipe.Reader, abort.Token, TimeSpan.FromMinutes(5), new FakeTimeProvider());
        ValueTask<ReadResult> read = reader.ReadAsync();
        await pipe.Writer.CompleteAsync(new IOException("reset"));
        Assert.False(read.IsCompleted);
        abort.Cancel();
        IOException failure = await Assert.ThrowsAsync<IOException>(async () => await read.AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("reset", failure.Message);

        // Reads that succeed pass straight through.
        var data = new Pipe();
        await data.Writer.WriteAsync(new byte[] { 1, 2, 3 });
        var passing = new AbortAwareBodyReader(data.Reader, CancellationToken.None, TimeSpan.FromMinutes(5), new FakeTimeProvider());
        ReadResult result = await passing.ReadAsync();
        Assert.Equal(3, result.Buffer.Length);
        passing.AdvanceTo(result.Buffer.End);
    }

    /// <summary>The system clock, counting the timers created on it (a wait that has begun).</summary>
    private sealed class TimerCountingTimeProvider : TimeProvider
    {
        private int _timers;

        public int TimersCreated => Volatile.Read(ref _timers);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _timers);
            return System.CreateTimer(callback, state, dueTime, period);
        }
    }

    /// <summary>A request body whose first read fails as a client reset does; <paramref name="failed"/> runs first.</summary>
    private sealed class ResetWhileReading(Action failed) : PipeReader, IRequestBodyPipeFeature
    {
        public PipeReader Reader => this;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            failed();
            return ValueTask.FromException<ReadResult>(new IOException("The client reset the request stream."));
        }

        public override bool TryRead(out ReadResult result) => throw new IOException("The client reset the request stream.");

        public override void AdvanceTo(SequencePosition consumed)
        {
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
        }

        public override void CancelPendingRead()
        {
        }

        public override void Complete(Exception? exception = null)
        {
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
