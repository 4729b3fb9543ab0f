using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RaftKv.ClientGateway;
using RaftKv.Grpc.Server;

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
        SiloOptions options = builder.Configuration.GetSection(SiloOptions.SectionName).Get<SiloOptions>() ?? new SiloOptions();
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0) throw new OptionsException("invalid silo configuration:\n  " + string.Join("\n  ", errors));

        var peerUri = new Uri(options.Self.PeerAddress);
        var clientUri = new Uri(options.Self.ClientAddress);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(ListenAddress(peerUri), peerUri.Port, listen => listen.UseGrpcCleartext());
            kestrel.Listen(ListenAddress(clientUri), clientUri.Port, listen => listen.UseGrpcCleartext());
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1024;
        });
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.AddSingleton(options);
        // Peers never close their streams into this silo, so a graceful stop would always wait the whole timeout.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMilliseconds(options.ShutdownTimeoutMs));
        builder.Services.AddSingleton<SiloNode>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SiloNode>());
        builder.Services.AddSingleton<IRaftKvNode>(sp => sp.GetRequiredService<SiloNode>());
        builder.Services.AddRaftKvGateway();

        WebApplication app = builder.Build();
        app.MapRaftKvGateway().RequireHost($"*:{clientUri.Port}");
        PeerTransportFactory.MapPeerService(app, app.Services.GetRequiredService<SiloNode>()).RequireHost($"*:{peerUri.Port}");
        if (options.EnableTestFaults)
        {
            TestFaults.Map(app, app.Services.GetRequiredService<SiloNode>()).RequireHost($"*:{clientUri.Port}");
        }
        return app;
    }

    private static IPAddress ListenAddress(Uri uri) =>
        uri.Host is "localhost" ? IPAddress.Loopback : IPAddress.TryParse(uri.Host, out IPAddress? address) ? address : IPAddress.Any;
}

/// <summary>The configuration does not validate; the message lists every problem.</summary>
public sealed class OptionsException(string message) : Exception(message);
