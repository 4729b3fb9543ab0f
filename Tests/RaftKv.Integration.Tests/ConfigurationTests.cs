using System.Diagnostics;
using RaftKv.Silo;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>A silo with bad configuration exits at start with code 2 and a message naming each bad setting.</summary>
public sealed class ConfigurationTests
{
    [Fact]
    public async Task Bad_node_addresses_stop_the_silo_at_start_naming_the_settings()
    {
        int[] ports = LoopbackPorts.Free(3);
        (int exitCode, string error) = await RunSiloAsync(
            "--RaftKv:NodeId=1", "--RaftKv:Members:0:Id=1", "--RaftKv:Members:0:PeerAddress=peer-one:7201",
            $"--RaftKv:Members:0:ClientAddress=http://127.0.0.1:{ports[0]}", $"--RaftKv:HttpListenAddress=http://127.0.0.1:{ports[1]}");
        Assert.Equal(2, exitCode);
        Assert.Contains("RaftKv:Members:0:PeerAddress 'peer-one:7201'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_validated_on_start_stop_the_silo_naming_the_setting()
    {
        int[] ports = LoopbackPorts.Free(5);
        string data = Path.Combine(Path.GetTempPath(), "raftkv-config-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            (int exitCode, string error) = await RunSiloAsync(
                "--RaftKv:NodeId=1", $"--RaftKv:DataDirectory={data}", "--RaftKv:Members:0:Id=1",
                $"--RaftKv:Members:0:PeerAddress=http://127.0.0.1:{ports[0]}", $"--RaftKv:Members:0:ClientAddress=http://127.0.0.1:{ports[1]}",
                $"--RaftKv:Orleans:SiloPort={ports[2]}", $"--RaftKv:Orleans:GatewayPort={ports[3]}", $"--RaftKv:Orleans:PrimarySiloEndpoint=127.0.0.1:{ports[2]}",
                "--RaftKv:Grains:MaxScanLimit=0");
            Assert.Equal(2, exitCode);
            Assert.Contains("RaftKv:Grains:MaxScanLimit must be positive", error, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        }
    }

    private static async Task<(int ExitCode, string Error)> RunSiloAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(SiloHost).Assembly.Location);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        start.ArgumentList.Add($"--RaftKv:ParentProcessId={Environment.ProcessId}");
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the silo did not exit within 60 s; output:\n{await output}\n{await error}");
        }
        return (process.ExitCode, await error + await output);
    }
}
