namespace RaftKv.Integration.Tests.Infrastructure;

/// <summary>
/// Debian's headless Chromium, for tests of the cluster page. Installed on first use when missing (apt-get, as root),
/// as the interop tests install their npm packages, so a fresh machine needs nothing by hand.
/// </summary>
public static class HeadlessChromium
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    public static async Task<string> EnsureInstalledAsync(CancellationToken cancellationToken)
    {
        await InstallLock.WaitAsync(cancellationToken);
        try
        {
            if (Find() is { } found) return found;
            if (!File.Exists("/usr/bin/apt-get") || Environment.UserName != "root")
            {
                throw new InvalidOperationException("the cluster page test needs Chromium: install Debian's 'chromium' package (apt-get install chromium)");
            }
            foreach (string[] command in new[] { new[] { "update", "-qq" }, new[] { "install", "-y", "-qq", "--no-install-recommends", "chromium" } })
            {
                ProcessResult result = await NodeInterop.RunAsync("apt-get", command, cancellationToken);
                if (result.ExitCode != 0) throw new InvalidOperationException($"apt-get {string.Join(' ', command)} failed ({result.ExitCode}):\n{result.StandardError}");
            }
            return Find() ?? throw new InvalidOperationException("apt-get installed chromium but no chromium binary was found");
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary>
    /// Loads <paramref name="url"/>, lets its scripts run for <paramref name="budget"/> of virtual time (enough for
    /// the page's fetch and render), and returns the DOM as HTML; with <paramref name="screenshot"/>, also saves a PNG.
    /// </summary>
    public static async Task<string> DumpDomAsync(string chromium, string url, TimeSpan budget, string? screenshot, CancellationToken cancellationToken)
    {
        string profile = Path.Combine(Path.GetTempPath(), "raftkv-chromium-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            List<string> common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", $"--user-data-dir={profile}",
                $"--virtual-time-budget={(int)budget.TotalMilliseconds}", "--window-size=1280,900"];
            if (screenshot is not null)
            {
                ProcessResult shot = await NodeInterop.RunAsync(chromium, [.. common, $"--screenshot={screenshot}", url], cancellationToken);
                if (shot.ExitCode != 0) throw new InvalidOperationException($"chromium --screenshot failed ({shot.ExitCode}):\n{shot.StandardError}");
            }
            ProcessResult dump = await NodeInterop.RunAsync(chromium, [.. common, "--dump-dom", url], cancellationToken);
            if (dump.ExitCode != 0) throw new InvalidOperationException($"chromium --dump-dom failed ({dump.ExitCode}):\n{dump.StandardError}");
            return dump.StandardOutput;
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string? Find() => Candidates.FirstOrDefault(File.Exists);
}
