using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Node.Tests;

/// <summary>The node runtime on its own, as a one-member cluster on a real disk: no hosting, no peers.</summary>
[Collection(NodeMetersCollection.Name)]
public sealed class SingleNodeRuntimeTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "raftkv-node-tests", Guid.NewGuid().ToString("N"));
    private NodeRuntime _node = null!;

    private NodeOptions Options => new()
    {
        NodeId = 1,
        DataDirectory = _directory,
        Members = [new NodeMember { Id = 1, PeerAddress = "http://127.0.0.1:1", ClientAddress = "http://127.0.0.1:2" }],
        StateMachineMemoryBytes = 1L << 23,
    };

    public Task InitializeAsync()
    {
        _node = new NodeRuntime(Options, NullLoggerFactory.Instance, TimeProvider.System, error => throw new InvalidOperationException("fatal", error));
        _node.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_write_is_applied_and_a_linearizable_read_sees_it_and_the_meters_report_both()
    {
        var longs = new Dictionary<string, long>();
        var doubles = new Dictionary<string, int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == NodeMetrics.MeterName) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (longs) longs[instrument.Name] = instrument is ObservableInstrument<long> ? value : longs.GetValueOrDefault(instrument.Name) + value;
        });
        listener.SetMeasurementEventCallback<double>((instrument, _, _, _) =>
        {
            lock (doubles) doubles[instrument.Name] = doubles.GetValueOrDefault(instrument.Name) + 1;
        });
        listener.Start();

        await WaitForAsync(() => _node.Status.Role == RaftRole.Leader);
        ReadOnlyMemory<byte> registered = await _node.ProposeAsync(KvCommand.RegisterSession(0).Encode(), CancellationToken.None);
        Assert.True(KvReply.TryDecode(registered, out KvReply? session) && session.Succeeded);
        ReadOnlyMemory<byte> put = await _node.ProposeAsync(
            KvCommand.Put(session.SessionId, 1, 0, Encoding.UTF8.GetBytes("k"), Encoding.UTF8.GetBytes("v")).Encode(), CancellationToken.None);
        Assert.True(KvReply.TryDecode(put, out KvReply? putReply) && putReply.Succeeded);

        await _node.ReadIndexAsync(CancellationToken.None);
        KvEntry? entry = _node.StateMachine.Get(Encoding.UTF8.GetBytes("k"));
        Assert.Equal("v", Encoding.UTF8.GetString(entry!.Value.Span));

        listener.RecordObservableInstruments();
        lock (longs)
        {
            Assert.Equal((long)RaftRole.Leader, longs["raftkv.raft.role"]);
            Assert.True(longs["raftkv.raft.term"] >= 1);
            Assert.True(longs["raftkv.raft.applied_index"] >= 3, "no-op, session and put are applied");
            Assert.True(longs["raftkv.raft.proposals"] >= 2);
            Assert.True(longs["raftkv.raft.applied_entries"] >= 3);
            Assert.True(longs["raftkv.raft.elections"] >= 1);
        }
        lock (doubles)
        {
            Assert.True(doubles.GetValueOrDefault("raftkv.raft.persist.duration") >= 1, "every Ready with entries is fsynced");
            Assert.True(doubles.GetValueOrDefault("raftkv.raft.read_index.duration") >= 1);
        }
    }

    [Fact]
    public async Task A_stopped_node_refuses_work_with_a_retryable_error_and_its_meters_go_quiet()
    {
        await WaitForAsync(() => _node.Status.Role == RaftRole.Leader);
        await _node.StopAsync();
        Assert.Throws<UnavailableException>(() => _node.Status);
        await Assert.ThrowsAsync<UnavailableException>(() => _node.ReadIndexAsync(CancellationToken.None));

        int observed = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == NodeMetrics.MeterName && instrument is ObservableInstrument<long>) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref observed));
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(0, observed);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), deadline.Token);
        }
    }
}

public sealed class NodeOptionsTests
{
    [Fact]
    public void State_machine_memory_too_small_for_two_FASTER_pages_is_refused_at_validation_naming_the_setting()
    {
        var options = new NodeOptions
        {
            NodeId = 1,
            Members = [new NodeMember { Id = 1, PeerAddress = "http://127.0.0.1:1", ClientAddress = "http://127.0.0.1:2" }],
            StateMachineMemoryBytes = 1L << 22,
        };
        string error = Assert.Single(options.Validate());
        Assert.Contains("RaftKv:StateMachineMemoryBytes", error, StringComparison.Ordinal);
        Assert.Empty((options with { StateMachineMemoryBytes = 1L << 23 }).Validate());
    }
}
