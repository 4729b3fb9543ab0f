using System.Diagnostics;

namespace RaftKv.Chaos.Cluster;

/// <summary>
/// Runs short system commands (ip, iptables, mount) and reports failures with their output. Also compiled into
/// RaftKv.Integration.Tests (linked in its project file) for the compose test's network namespaces.
/// </summary>
public static class Shell
{
    public static (int ExitCode, string Output) Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(Which(file) ?? file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, output.Result + error.Result);
    }

    public static void Check(string file, params string[] arguments)
    {
        var (exitCode, output) = Run(file, arguments);
        if (exitCode != 0) throw new InvalidOperationException($"'{file} {string.Join(' ', arguments)}' failed ({exitCode}): {output.Trim()}");
    }

    /// <summary>The full path of a program on PATH (or in the sbin directories, which a non-login PATH may lack), or null.</summary>
    public static string? Which(string program)
    {
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        return directories.Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
    }

    public static bool IsRoot => Environment.UserName == "root" || Run("id", "-u").Output.Trim() == "0";
}
