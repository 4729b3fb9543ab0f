using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftKv.ClientGateway;
using RaftKv.Node;

namespace RaftKv.Silo;

/// <summary>Builds the silo host: Generic Host + Kestrel with a peer port (mesh) and a client port (gateway).</summary>
public static class SiloHost
{
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (OptionsException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 2;
        }
        await app.RunAsync();
        return Environment.ExitCode;
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder);
        NodeOptions options = builder.Configuration.GetSection(NodeOptions.SectionName).Get<NodeOptions>() ?? new NodeOptions();
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0) throw new OptionsException("invalid silo configuration:\n  " + string.Join("\n  ", errors));

        var peerUri = new Uri(options.Self.PeerAddress);
        var clientUri = new Uri(options.Self.ClientAddress);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // h2c (HTTP/2 with prior knowledge), which gRPC clients speak to "http://" addresses.
            kestrel.Listen(ListenAddress(peerUri), peerUri.Port, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Listen(ListenAddress(clientUri), clientUri.Port, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1024;
        });
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SiloNode>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SiloNode>());
        builder.Services.AddSingleton<IRaftKvNode>(sp => sp.GetRequiredService<SiloNode>().Runtime);
        builder.Services.AddGrpc();
        SiloNode.AddPeerService(builder.Services);
        builder.Services.AddRaftKvGateway();

        WebApplication app = builder.Build();
        app.MapRaftKvGateway().RequireHost($"*:{clientUri.Port}");
        SiloNode.MapPeerService(app).RequireHost($"*:{peerUri.Port}");
        if (options.EnableTestFaults)
        {
            app.MapGrpcService<TestFaults>().RequireHost($"*:{clientUri.Port}");
        }
        return app;
    }

    private static IPAddress ListenAddress(Uri uri) =>
        uri.Host is "localhost" ? IPAddress.Loopback : IPAddress.TryParse(uri.Host, out IPAddress? address) ? address : IPAddress.Any;
}

/// <summary>The configuration does not validate; the message lists every problem.</summary>
public sealed class OptionsException(string message) : Exception(message);
