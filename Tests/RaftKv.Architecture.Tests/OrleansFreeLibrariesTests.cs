using System.Reflection;

namespace RaftKv.Architecture.Tests;

/// <summary>
/// Raft/ holds the Orleans-free libraries (core, storage, state machine, peer mesh, node runtime): Orleans is the
/// hosting fabric and never an arbiter, so nothing there may reference it, directly or through another assembly.
/// </summary>
public sealed class OrleansFreeLibrariesTests
{
    private static readonly string[] Libraries = ["RaftKv.Raft", "RaftKv.Storage", "RaftKv.StateMachine", "RaftKv.Mesh", "RaftKv.Node"];

    [Fact]
    public void No_Orleans_free_assembly_references_Orleans_or_the_hosting_projects_even_transitively()
    {
        var offenders = new List<string>();
        foreach (string library in Libraries)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var pending = new Stack<(AssemblyName Name, string Path)>();
            pending.Push((new AssemblyName(library), library));
            while (pending.TryPop(out var current))
            {
                if (!seen.Add(current.Name.Name!)) continue;
                if (IsForbidden(current.Name.Name!)) offenders.Add(current.Path);
                Assembly assembly;
                try
                {
                    assembly = Assembly.Load(current.Name);
                }
                catch (FileNotFoundException)
                {
                    continue; // a framework facade not deployed with the tests cannot reference our hosting layers
                }
                foreach (AssemblyName reference in assembly.GetReferencedAssemblies())
                {
                    pending.Push((reference, $"{current.Path} -> {reference.Name}"));
                }
            }
        }
        Assert.True(offenders.Count == 0, "Orleans-free libraries reach Orleans or hosting:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void No_project_or_source_file_under_Raft_mentions_an_Orleans_package_or_a_hosting_project()
    {
        string root = Path.Combine(RepositoryRoot(), "Raft");
        var offenders = Directory.EnumerateFiles(root, "*.*", SearchOption.AllDirectories)
            .Where(path => path.EndsWith(".csproj", StringComparison.Ordinal) || path.EndsWith(".cs", StringComparison.Ordinal))
            .Where(path => !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) &&
                           !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Where(path => File.ReadLines(path).Any(line => MentionsHosting(path, line)))
            .Select(path => Path.GetRelativePath(RepositoryRoot(), path))
            .ToList();
        Assert.True(offenders.Count == 0, "files under Raft/ mention Orleans or a hosting project:\n" + string.Join("\n", offenders));
    }

    [Theory]
    [InlineData("Microsoft.Orleans.Core", true)]
    [InlineData("Orleans.Core.Abstractions", true)]
    [InlineData("RaftKv.Grains", true)]
    [InlineData("RaftKv.Grains.Abstractions", true)]
    [InlineData("RaftKv.ClientGateway", true)]
    [InlineData("RaftKv.Silo", true)]
    [InlineData("RaftKv.Mesh", false)]
    [InlineData("System.Runtime", false)]
    public void The_rule_recognises_hosting_assemblies(string name, bool forbidden) => Assert.Equal(forbidden, IsForbidden(name));

    /// <summary>Code or a reference that reaches hosting; prose in comments may name Orleans freely.</summary>
    private static bool MentionsHosting(string path, string line)
    {
        string code = line.Trim();
        if (path.EndsWith(".csproj", StringComparison.Ordinal))
        {
            return code.Contains("Reference Include=", StringComparison.Ordinal) &&
                   (code.Contains("Orleans", StringComparison.Ordinal) || code.Contains("Grains", StringComparison.Ordinal) ||
                    code.Contains("ClientGateway", StringComparison.Ordinal) || code.Contains("Silo", StringComparison.Ordinal));
        }
        return !code.StartsWith("//", StringComparison.Ordinal) &&
               (code.Contains("Orleans.", StringComparison.Ordinal) || code.Contains("RaftKv.Grains", StringComparison.Ordinal) ||
                code.Contains("RaftKv.ClientGateway", StringComparison.Ordinal) || code.Contains("RaftKv.Silo", StringComparison.Ordinal));
    }

    private static bool IsForbidden(string assemblyName) =>
        assemblyName.Contains("Orleans", StringComparison.OrdinalIgnoreCase) ||
        assemblyName.StartsWith("RaftKv.Grains", StringComparison.Ordinal) ||
        assemblyName is "RaftKv.ClientGateway" or "RaftKv.Silo";

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Orleans.Raft.sln"))) return directory.FullName;
        }
        throw new InvalidOperationException($"Orleans.Raft.sln not found above {AppContext.BaseDirectory}");
    }
}
