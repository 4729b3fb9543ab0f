using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace RaftKv.Architecture.Tests;

/// <summary>
/// docker/Dockerfile restores from the project files alone before it copies the sources (a cached layer); that copy
/// lists the silo's project and everything it references by hand. A project reference added later without its line
/// there would fail only inside <c>docker build</c>; this finds it on every test run.
/// </summary>
public sealed partial class DockerfileTests
{
    [Fact]
    public void The_restore_layer_copies_every_project_the_silo_references_and_nothing_else()
    {
        string root = RepositoryRoot();
        string dockerfile = File.ReadAllText(Path.Combine(root, "docker", "Dockerfile"));
        string[] copied = [.. CopiedProject().Matches(dockerfile).Select(m => m.Groups["path"].Value).Order(StringComparer.Ordinal)];
        string[] needed = [.. ProjectClosure(root, "Silo/RaftKv.Silo.csproj").Order(StringComparer.Ordinal)];
        Assert.Equal(needed, copied);
        foreach (Match copy in CopiedProject().Matches(dockerfile))
        {
            Assert.Equal(Path.GetDirectoryName(copy.Groups["path"].Value) + "/", copy.Groups["target"].Value);
        }
        Assert.Matches(@"COPY global\.json Directory\.Build\.props Directory\.Packages\.props \./", dockerfile);
    }

    [Fact]
    public void The_image_runs_as_a_non_root_user_with_a_healthcheck_and_the_context_leaves_build_output_out()
    {
        string root = RepositoryRoot();
        string[] final = File.ReadAllText(Path.Combine(root, "docker", "Dockerfile")).Split("\nFROM ")[^1].Split('\n');
        Assert.Contains(final, line => line.StartsWith("USER ", StringComparison.Ordinal) && !line.Contains("root", StringComparison.Ordinal));
        Assert.Contains(final, line => line.StartsWith("HEALTHCHECK ", StringComparison.Ordinal) && line.Contains("\"health\"", StringComparison.Ordinal));
        string[] ignored = File.ReadAllLines(Path.Combine(root, ".dockerignore"));
        Assert.Contains("**/bin", ignored);
        Assert.Contains("**/obj", ignored);
        Assert.Contains(".git", ignored);
    }

    /// <summary>The project and every project it references, directly or not, as paths relative to the repository.</summary>
    private static HashSet<string> ProjectClosure(string root, string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out string? next))
        {
            if (!seen.Add(next)) continue;
            string directory = Path.GetDirectoryName(Path.Combine(root, next))!;
            foreach (XElement reference in XDocument.Load(Path.Combine(root, next)).Descendants("ProjectReference"))
            {
                string full = Path.GetFullPath(Path.Combine(directory, reference.Attribute("Include")!.Value.Replace('\\', '/')));
                pending.Push(Path.GetRelativePath(root, full).Replace('\\', '/'));
            }
        }
        return seen;
    }

    [GeneratedRegex(@"^COPY (?<path>\S+\.csproj) (?<target>\S+)\s*$", RegexOptions.Multiline)]
    private static partial Regex CopiedProject();

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Orleans.Raft.sln"))) return directory.FullName;
        }
        throw new InvalidOperationException($"Orleans.Raft.sln not found above {AppContext.BaseDirectory}");
    }
}
