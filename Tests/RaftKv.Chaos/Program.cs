using RaftKv.Chaos.Runner;

namespace RaftKv.Chaos;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["clock-probe"]) return ClockProbe.Run();
        if (args is ["clock-stall", ..]) return await ClockStallScenario.RunAsync(args[1..]);
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(ChaosOptions.Usage);
            return 0;
        }
        ChaosOptions options;
        try
        {
            options = ChaosOptions.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await Console.Error.WriteLineAsync(e.Message + "\n" + ChaosOptions.Usage);
            return 2;
        }
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        ChaosReport report = await new ChaosRun(options, Console.Out).RunAsync(cancel.Token);
        Console.WriteLine(report.Verdicts);
        if (report.FailingKeyHistory is { } failing) Console.WriteLine(failing.Length > 20_000 ? failing[..20_000] + "\n... (see failing-key.txt)" : failing);
        Console.WriteLine($"files: {report.Directory}");
        Console.WriteLine(report.Summary);
        return report.Violations == 0 ? 0 : 1;
    }
}
