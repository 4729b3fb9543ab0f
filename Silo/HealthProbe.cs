using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Configuration;
using RaftKv.Client.Protos;
using RaftKv.Node;

namespace RaftKv.Silo;

/// <summary>
/// <c>RaftKv.Silo health</c>: a container or service-manager health check that needs nothing but the silo's own
/// image. It reads the silo's configuration the way the silo does (RaftKv__* environment variables, --RaftKv:*
/// arguments), asks this node's client gateway for its Raft status, and exits 0 when the node answers and knows a
/// leader, 1 otherwise (with the reason on stderr).
/// </summary>
internal static class HealthProbe
{
    public static async Task<int> RunAsync(string[] args)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
        NodeOptions options = configuration.GetSection(NodeOptions.SectionName).Get<NodeOptions>() ?? new NodeOptions();
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0)
        {
            await Console.Error.WriteLineAsync("unhealthy: invalid configuration: " + string.Join(" ", errors));
            return 1;
        }
        try
        {
            using GrpcChannel channel = GrpcChannel.ForAddress(options.Self.ClientAddress);
            StatusResponse status = await new KV.KVClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(3));
            if (status.LeaderId == 0)
            {
                await Console.Error.WriteLineAsync($"unhealthy: node {status.NodeId} knows no leader (role {status.Role}, term {status.Term})");
                return 1;
            }
            await Console.Out.WriteLineAsync($"healthy: node {status.NodeId} is {status.Role} in term {status.Term}, leader {status.LeaderId}, applied {status.AppliedIndex}");
            return 0;
        }
        catch (RpcException failure)
        {
            await Console.Error.WriteLineAsync($"unhealthy: {options.Self.ClientAddress} did not answer: {failure.Status.StatusCode} {failure.Status.Detail}");
            return 1;
        }
    }
}
