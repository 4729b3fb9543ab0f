using System.Reflection;

namespace RaftKv.Architecture.Tests;

/// <summary>
/// An Orleans client application references Grains.Abstractions and Orleans' client only: the contracts must not
/// drag in the server side (the node runtime, FASTER, the silo, the grains' implementations).
/// </summary>
public sealed class ClientContractsTests
{
    [Fact]
    public void The_grain_contracts_reference_no_RaftKv_server_library_and_no_storage_engine()
    {
        Assembly contracts = typeof(RaftKv.Grains.IKvGrain).Assembly;
        string[] offenders = [.. contracts.GetReferencedAssemblies()
            .Select(reference => reference.Name!)
            .Where(name => (name.StartsWith("RaftKv.", StringComparison.Ordinal) && name != "RaftKv.Grains.Abstractions") ||
                           name.Contains("FASTER", StringComparison.OrdinalIgnoreCase) ||
                           name == "Orleans.Runtime")];
        Assert.True(offenders.Length == 0, "RaftKv.Grains.Abstractions references: " + string.Join(", ", offenders));
    }
}
