using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using RaftKv.ClientGateway;
using RaftKv.Grpc;
using RaftKv.Grpc.Server;

namespace RaftKv.Silo;

/// <summary>
/// Test-only fault injection, mapped only when RaftKv:EnableTestFaults is true: "/raftkv.test.Faults/Isolate"
/// (BoolValue) cuts this node off from its peers in both directions while its client port keeps answering, which is
/// how the integration tests show that an isolated old leader refuses reads instead of serving stale data.
/// Two more test faults are configuration switches, refused unless EnableTestFaults is set:
/// <see cref="SiloOptions.TestFaultServeReadsLocally"/> and <see cref="SiloOptions.TestFaultAcknowledgeBeforeCommit"/>.
/// </summary>
public static class TestFaults
{
    public static readonly GrpcMethod<BoolValue, Empty> Isolate =
        new(MethodType.Unary, "raftkv.test.Faults", "Isolate", BoolValue.Parser, Empty.Parser);

    public static IEndpointConventionBuilder Map(IEndpointRouteBuilder endpoints, SiloNode node) =>
        endpoints.MapGrpcService(new GrpcServiceDefinition().AddUnary(Isolate, (request, _) =>
        {
            RaftDriver driver = node.Driver ?? throw new UnavailableException("the node is not running");
            driver.Isolated = request.Value;
            return Task.FromResult(new Empty());
        }));
}
