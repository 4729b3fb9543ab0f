using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage.Wal;

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
            if (instrument.Meter.Name is NodeMetrics.MeterName or WalMetrics.MeterName) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            lock (longs) longs[instrument.Name] = instrument is ObservableInstrument<long> ? value : longs.GetValueOrDefault(instrument.Name) + value;
        });
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
        {
            lock (longs) longs[instrument.Name] = value;
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

        // Session count and FASTER's size are copied out by the driver once per heartbeat interval, so the sample seen
        // first may predate the put (the session registered, FASTER still empty): wait for one that shows both.
        await WaitForAsync(() =>
        {
            listener.RecordObservableInstruments();
            lock (longs) return longs.GetValueOrDefault("raftkv.state_machine.sessions") == 1 && longs.GetValueOrDefault("raftkv.state_machine.log.size") > 0;
        });
        lock (longs)
        {
            Assert.True(longs["raftkv.wal.segments"] >= 1);
            Assert.True(longs["raftkv.wal.written"] > 0);
            Assert.DoesNotContain("raftkv.raft.replication.lag", longs.Keys); // a single voter has no followers
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
            Assert.True(doubles.GetValueOrDefault("raftkv.wal.write.duration") >= 1);
            Assert.True(doubles.GetValueOrDefault("raftkv.wal.fsync.duration") >= 1);
            Assert.True(doubles.GetValueOrDefault("raftkv.state_machine.apply.duration") >= 1);
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

    private static NodeOptions ThreeMembers => new()
    {
        NodeId = 1,
        Members =
        [
            new NodeMember { Id = 1, PeerAddress = "http://127.0.0.1:7201", ClientAddress = "http://127.0.0.1:7101", HttpAddress = "http://127.0.0.1:7301" },
            new NodeMember { Id = 2, PeerAddress = "http://127.0.0.1:7202", ClientAddress = "http://127.0.0.1:7102" },
            new NodeMember { Id = 3, PeerAddress = "http://127.0.0.1:7203", ClientAddress = "http://127.0.0.1:7103" },
        ],
    };

    [Fact]
    public void Listen_addresses_default_to_the_advertised_ones_and_may_differ_from_them()
    {
        NodeOptions options = ThreeMembers;
        Assert.Empty(options.Validate());
        Assert.Equal(7201, options.PeerListenUri.Port);
        Assert.Equal(7101, options.ClientListenUri.Port);
        Assert.Equal(7301, options.HttpListenUri!.Port);

        NodeOptions mapped = options with { PeerListenAddress = "http://0.0.0.0:9201", HttpListenAddress = "http://0.0.0.0:9301" };
        Assert.Empty(mapped.Validate());
        Assert.Equal(9201, mapped.PeerListenUri.Port);
        Assert.Equal(9301, mapped.HttpListenUri!.Port);
        Assert.Equal(7101, mapped.ClientListenUri.Port);
        Assert.Null((options with { NodeId = 2 }).HttpListenUri); // node 2 has no monitoring port
    }

    [Theory]
    [InlineData("PeerListenAddress", "not a uri", "RaftKv:PeerListenAddress 'not a uri'")]
    [InlineData("PeerListenAddress", "http://127.0.0.1", "RaftKv:PeerListenAddress 'http://127.0.0.1' must name its port")]
    [InlineData("ClientListenAddress", "ftp://127.0.0.1:21", "RaftKv:ClientListenAddress 'ftp://127.0.0.1:21'")]
    [InlineData("HttpListenAddress", "http://127.0.0.1:7201", "must use different ports")]
    [InlineData("PeerAddress", "", "RaftKv:Members:0:PeerAddress must be set")]
    [InlineData("HttpAddress", "127.0.0.1:7301", "RaftKv:Members:0:HttpAddress '127.0.0.1:7301'")]
    public void A_bad_address_is_refused_with_a_message_naming_the_setting(string setting, string value, string expected)
    {
        NodeOptions options = ThreeMembers;
        NodeMember self = options.Members[0];
        options = setting switch
        {
            "PeerListenAddress" => options with { PeerListenAddress = value },
            "ClientListenAddress" => options with { ClientListenAddress = value },
            "HttpListenAddress" => options with { HttpListenAddress = value },
            "PeerAddress" => options with { Members = [self with { PeerAddress = value }, .. options.Members.Skip(1)] },
            _ => options with { Members = [self with { HttpAddress = value }, .. options.Members.Skip(1)] },
        };
        string error = Assert.Single(options.Validate());
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_listen_address_for_a_monitoring_port_nobody_is_told_about_is_refused()
    {
        NodeOptions options = ThreeMembers with { NodeId = 2, HttpListenAddress = "http://0.0.0.0:7302" };
        string error = Assert.Single(options.Validate());
        Assert.Contains("RaftKv:HttpListenAddress", error, StringComparison.Ordinal);
    }
}
