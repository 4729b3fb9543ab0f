using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.TestingHost;
using RaftKv.ClientGateway;
using RaftKv.Node;
using RaftKv.Silo;

namespace RaftKv.TestingHost;

/// <summary>
/// Makes a TestingHost silo a RaftKv node: the node runtime (started before the silo, stopped after it), Kestrel in
/// the silo's own host and DI container with the node's peer (mesh) and client (gateway) ports, and RaftKv's grains.
/// Which node a silo is comes from its TestingHost name ("Primary" is node 1, "Secondary_N" node N + 1), so a
/// restarted silo is the same node with the same data directory. <see cref="RaftKvTestCluster"/> adds it.
/// </summary>
public sealed class RaftKvSiloConfigurator : ISiloConfigurator, IHostConfigurator
{
    /// <summary>Configuration key of the folder holding one data directory per node.</summary>
    public const string DataRootKey = "RaftKv:TestCluster:DataRoot";

    public void Configure(IHostBuilder hostBuilder)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        var configuration = hostBuilder.Properties.TryGetValue("Configuration", out object? value) && value is IConfiguration c
            ? c
            : throw new InvalidOperationException("a TestingHost silo's host builder carries its configuration; this configurator runs only in TestCluster silos");
        NodeOptions options = NodeOptionsOf(configuration);
        hostBuilder.ConfigureServices(services =>
        {
            SiloHost.AddRaftKvHosting(services, options);
            services.AddRouting();
        });
        hostBuilder.ConfigureWebHost(web => web
            .UseKestrel(kestrel => SiloHost.ListenOnNodePorts(kestrel, options))
            .Configure(app =>
            {
                SiloHost.EndPeerStreamsWhenStopping(app, options);
                app.UseClientResetAsCancellation();
                app.UseRouting();
                app.UseEndpoints(endpoints => SiloHost.MapNodeEndpoints(endpoints, options));
            }));
    }

    public void Configure(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        SiloHost.ConfigureRaftKvGrains(siloBuilder, siloBuilder.Configuration);
    }

    /// <summary>The node options of the silo whose configuration this is: the shared "RaftKv" section plus its own id and data directory.</summary>
    public static NodeOptions NodeOptionsOf(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        string name = configuration["Orleans:Name"] ?? throw new InvalidOperationException("the silo has no Orleans:Name");
        ulong nodeId = NodeIdOf(name);
        string root = configuration[DataRootKey] ?? throw new InvalidOperationException($"{DataRootKey} is not set");
        NodeOptions options = (configuration.GetSection(NodeOptions.SectionName).Get<NodeOptions>() ?? new NodeOptions()) with
        {
            NodeId = nodeId,
            DataDirectory = Path.Combine(root, $"node{nodeId}"),
        };
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0) throw new InvalidOperationException($"silo {name}: invalid RaftKv configuration: {string.Join(" ", errors)}");
        return options;
    }

    /// <summary>"Primary" is node 1, "Secondary_N" is node N + 1.</summary>
    public static ulong NodeIdOf(string siloName)
    {
        ArgumentNullException.ThrowIfNull(siloName);
        if (siloName == "Primary") return 1;
        const string prefix = "Secondary_";
        if (siloName.StartsWith(prefix, StringComparison.Ordinal) && ulong.TryParse(siloName.AsSpan(prefix.Length), out ulong n)) return n + 1;
        throw new InvalidOperationException($"silo name '{siloName}' is neither Primary nor Secondary_N");
    }
}
