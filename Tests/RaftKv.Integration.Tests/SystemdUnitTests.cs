using System.Diagnostics;
using RaftKv.Node;

namespace RaftKv.Integration.Tests;

/// <summary>deploy/systemd/raftkv-silo.service agrees with the silo's own settings, and systemd accepts it.</summary>
public sealed class SystemdUnitTests
{
    private static readonly string Unit = Path.Combine(RepositoryRoot(), "deploy", "systemd", "raftkv-silo.service");

    [Fact]
    public void The_unit_lets_the_silo_stop_on_its_own_and_write_only_its_data_directory()
    {
        Dictionary<string, List<string>> settings = File.ReadLines(Unit)
            .Where(l => l.Contains('=', StringComparison.Ordinal) && !l.TrimStart().StartsWith('#'))
            .GroupBy(l => l[..l.IndexOf('=', StringComparison.Ordinal)].Trim(), l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim())
            .ToDictionary(g => g.Key, g => g.ToList());

        // systemd's SIGKILL must never beat the silo's own bounded stop (graceful budget + watchdog margin of 5 s).
        int stopSeconds = int.Parse(settings["TimeoutStopSec"].Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(stopSeconds > new NodeOptions().ShutdownTimeoutMs / 1000.0 + 5, $"TimeoutStopSec={stopSeconds} is not above the silo's own stop bound");
        // The one writable path is the data directory the silo is told to use, and it is the service's state directory.
        string dataDirectory = settings["Environment"].Single(e => e.StartsWith("RaftKv__DataDirectory=", StringComparison.Ordinal))["RaftKv__DataDirectory=".Length..];
        Assert.Equal([dataDirectory], settings["ReadWritePaths"]);
        Assert.Equal("/var/lib/" + settings["StateDirectory"].Single(), dataDirectory);
        Assert.Equal("strict", settings["ProtectSystem"].Single());
        Assert.Equal("yes", settings["NoNewPrivileges"].Single());
        Assert.Equal("yes", settings["PrivateTmp"].Single());
        Assert.Equal("on-failure", settings["Restart"].Single());
        Assert.Contains("LimitNOFILE", settings.Keys);
    }

    [Fact]
    public void Systemd_analyze_verify_reports_nothing_where_it_is_installed()
    {
        string? analyze = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin")
            .Select(d => Path.Combine(d, "systemd-analyze")).FirstOrDefault(File.Exists);
        if (analyze is null) return; // not installed here: the first test still checks the unit's contents
        var start = new ProcessStartInfo(analyze) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("verify");
        start.ArgumentList.Add(Unit);
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        // verify exits 0 even when it ignores a setting it cannot parse; any output is a warning about the unit.
        Assert.True(process.ExitCode == 0 && output.Trim().Length == 0, $"systemd-analyze verify: exit {process.ExitCode}: {output}");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Orleans.Raft.sln"))) return directory.FullName;
        }
        throw new InvalidOperationException("the repository root (Orleans.Raft.sln) is not above " + AppContext.BaseDirectory);
    }
}
