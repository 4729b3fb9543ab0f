using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftKv.Node;
using RaftKv.Silo.Protos;

namespace RaftKv.Silo;

/// <summary>
/// Test-only fault injection, mapped only when RaftKv:EnableTestFaults is true: <c>raftkv.test.Faults/Isolate</c>
/// (BoolValue) cuts this node off from its peers in both directions while its client port keeps answering, which is
/// how the integration tests show that an isolated old leader refuses reads instead of serving stale data.
/// Two more test faults are configuration switches, refused unless EnableTestFaults is set:
/// <see cref="NodeOptions.TestFaultServeReadsLocally"/> and <see cref="NodeOptions.TestFaultAcknowledgeBeforeCommit"/>.
/// </summary>
public sealed class TestFaults(SiloNode node) : Faults.FaultsBase
{
    public override Task<Empty> Isolate(BoolValue request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        RaftDriver driver = node.Runtime.Driver ?? throw new RpcException(new Status(StatusCode.Unavailable, "the node is not running"));
        driver.Isolated = request.Value;
        return Task.FromResult(new Empty());
    }

    public override Task<Empty> HangOnStop(Empty request, ServerCallContext context)
    {
        node.HangOnStop = true;
        return Task.FromResult(new Empty());
    }
}
