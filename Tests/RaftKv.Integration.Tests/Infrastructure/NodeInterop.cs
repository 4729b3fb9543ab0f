using System.Diagnostics;
using System.Text;

namespace RaftKv.Integration.Tests.Infrastructure;

/// <summary>
/// Runs the Node.js scripts in Tests/interop (stock @grpc/grpc-js). Installs their locked
/// dependencies with "npm ci" on first use when node_modules is missing (clean checkouts).
/// </summary>
public static class NodeInterop
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);

    public static string InteropDirectory { get; } = FindInteropDirectory();

    public static async Task EnsureDependenciesAsync(CancellationToken cancellationToken)
    {
        await InstallLock.WaitAsync(cancellationToken);
        try
        {
            if (Directory.Exists(Path.Combine(InteropDirectory, "node_modules", "@grpc", "grpc-js")))
            {
                return;
            }

            ProcessResult install = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], cancellationToken);
            if (install.ExitCode != 0)
            {
                throw new InvalidOperationException($"'npm ci' in {InteropDirectory} failed with exit code {install.ExitCode}:\n{install.StandardError}");
            }
        }
        finally
        {
            InstallLock.Release();
        }
    }

    public static async Task<ProcessResult> RunAsync(string fileName, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        using Process process = Start(fileName, arguments, redirectStandardInput: false);
        Task<string> output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        Task<string> error = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new ProcessResult(process.ExitCode, await output, await error);
    }

    /// <summary>Starts a process in the interop directory with redirected output; the caller owns it.</summary>
    public static Process Start(string fileName, IReadOnlyList<string> arguments, bool redirectStandardInput)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = InteropDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectStandardInput,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        try
        {
            return Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start '{fileName}'.");
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new InvalidOperationException($"'{fileName}' is required for the grpc-js interop test (Node.js 18+ with npm) and was not found on PATH.", exception);
        }
    }

    private static string FindInteropDirectory()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "Tests", "interop");
            if (File.Exists(Path.Combine(candidate, "package.json")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"Tests/interop/package.json not found above {AppContext.BaseDirectory}.");
    }
}

public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError);
