using RaftKv.Cli;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};
return await RaftKvCli.RunAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable(RaftKvCli.EndpointsVariable), cancellation.Token);
