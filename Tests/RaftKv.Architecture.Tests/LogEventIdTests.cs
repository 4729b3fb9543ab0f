using System.Reflection;
using Microsoft.Extensions.Logging;

namespace RaftKv.Architecture.Tests;

/// <summary>
/// Every [LoggerMessage] of the product names its event id, and no two share one, across all product assemblies:
/// operators filter and alert on event ids, so an id must mean one thing. Ranges by assembly: mesh 1000s, node
/// 1100s, gateway 2000s, grains 3000s, silo 4000s.
/// </summary>
public sealed class LogEventIdTests
{
    // The product's assemblies that log, loaded through this project's references (the silo references them all).
    private static readonly string[] ProductAssemblies =
    [
        "RaftKv.Raft", "RaftKv.Storage", "RaftKv.StateMachine", "RaftKv.Mesh", "RaftKv.Node",
        "RaftKv.ClientGateway", "RaftKv.Grains", "RaftKv.Grains.Abstractions", "RaftKv.Silo", "RaftKv.Client",
    ];

    [Fact]
    public void Every_LoggerMessage_has_an_explicit_event_id_unique_across_the_product()
    {
        var messages = ProductAssemblies.SelectMany(LoggerMessages).ToList();
        Assert.True(messages.Count >= 20, $"found only {messages.Count} [LoggerMessage] methods; is the scan looking at the right assemblies?");

        var missing = messages.Where(m => m.EventId <= 0).Select(m => m.Method).ToList();
        Assert.True(missing.Count == 0, "[LoggerMessage] without an explicit positive EventId:\n  " + string.Join("\n  ", missing));

        var duplicates = messages.GroupBy(m => m.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Method))}").ToList();
        Assert.True(duplicates.Count == 0, "event ids used more than once:\n  " + string.Join("\n  ", duplicates));
    }

    [Fact]
    public void The_scan_sees_the_event_ids_of_every_logging_assembly()
    {
        // A scan that silently found nothing in an assembly could not catch a duplicate there.
        foreach (string assembly in new[] { "RaftKv.Mesh", "RaftKv.Node", "RaftKv.ClientGateway", "RaftKv.Grains", "RaftKv.Silo" })
        {
            Assert.NotEmpty(LoggerMessages(assembly));
        }
    }

    private static IEnumerable<(int EventId, string Method)> LoggerMessages(string assemblyName)
    {
        Assembly assembly = Assembly.Load(new AssemblyName(assemblyName));
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (Type type in assembly.GetTypes())
        {
            foreach (MethodInfo method in type.GetMethods(all))
            {
                if (method.GetCustomAttribute<LoggerMessageAttribute>() is { } attribute)
                {
                    yield return (attribute.EventId, $"{assemblyName}:{type.FullName}.{method.Name}");
                }
            }
        }
    }
}
