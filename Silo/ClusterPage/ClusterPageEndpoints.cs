using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RaftKv.Node;

namespace RaftKv.Silo.ClusterPage;

/// <summary>
/// The live cluster page each silo serves on its monitoring port: <c>/</c> (HTML that refreshes itself every second)
/// and <c>/cluster.json</c> (the data behind it, also handy for scripts).
/// </summary>
public static class ClusterPageEndpoints
{
    private static readonly Lazy<byte[]> Html = new(() =>
    {
        using Stream stream = typeof(ClusterPageEndpoints).Assembly.GetManifestResourceStream("RaftKv.Silo.ClusterPage.cluster.html")
            ?? throw new InvalidOperationException("the cluster page resource is missing from the silo assembly");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static IServiceCollection AddClusterPage(this IServiceCollection services)
    {
        services.AddSingleton<RecentProblems>();
        services.AddSingleton<ILoggerProvider>(sp => sp.GetRequiredService<RecentProblems>());
        services.AddSingleton<ClusterJournal>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterJournal>());
        services.AddSingleton<ClusterView>();
        return services;
    }

    /// <summary>The page and its data on the monitoring port (<paramref name="port"/>; null: every port).</summary>
    public static void MapClusterPage(this IEndpointRouteBuilder app, int? port = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        IEndpointConventionBuilder page = app.MapGet("/", static (HttpContext context) =>
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.Body.WriteAsync(Html.Value).AsTask();
        });
        IEndpointConventionBuilder data = app.MapGet("/cluster.json", static async (HttpContext context, ClusterView view) =>
        {
            context.Response.Headers.CacheControl = "no-store";
            ClusterSnapshot snapshot;
            try
            {
                snapshot = await view.SnapshotAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (UnavailableException e)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync(e.Message, context.RequestAborted).ConfigureAwait(false);
                return;
            }
            await context.Response.WriteAsJsonAsync(snapshot, Json, context.RequestAborted).ConfigureAwait(false);
        });
        if (port is { } only)
        {
            page.RequireLocalPort(only);
            data.RequireLocalPort(only);
        }
    }
}
