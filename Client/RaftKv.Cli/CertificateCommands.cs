using System.CommandLine;
using RaftKv.Client.Security;

namespace RaftKv.Cli;

/// <summary><c>certs create</c>: a development CA with node and client certificates as PEM (docs/security.md).</summary>
internal static class CertificateCommands
{
    private const string Usage = "usage: raftkv certs create --out DIR [--nodes 3] [--hosts 127.0.0.1,localhost] [--clients admin] [--days 365]";

    public static Command Build(CliContext cli)
    {
        var output = new Option<string>("--out") { Description = "directory to write into (never overwrites)", Required = true };
        var nodes = new Option<int>("--nodes") { Description = "node certificates for nodes 1..N (1 to 99)", DefaultValueFactory = _ => 3 };
        nodes.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && (!int.TryParse(result.Tokens[^1].Value, out int n) || n is < 1 or > 99)) result.AddError("--nodes needs an integer from 1 to 99");
        });
        var hosts = new Option<string>("--hosts") { Description = "comma-separated DNS names or IP addresses in every node certificate", DefaultValueFactory = _ => "127.0.0.1,localhost" };
        var clients = new Option<string>("--clients") { Description = "comma-separated client certificate names", DefaultValueFactory = _ => "admin" };
        var days = new Option<int>("--days") { Description = "validity in days", DefaultValueFactory = _ => 365 };
        CliCommands.AtLeast(days, 1, "--days needs a positive integer");
        var create = new Command("create", "write a development CA and node and client certificates (PEM) into DIR") { output, nodes, hosts, clients, days };
        create.SetAction(async parse =>
        {
            string[] hostList = Split(parse.GetValue(hosts));
            if (hostList.Length == 0) throw new UsageException("--hosts needs a comma-separated list of DNS names or IP addresses");
            string[] clientList = Split(parse.GetValue(clients));
            int nodeCount = parse.GetValue(nodes);
            try
            {
                IReadOnlyList<string> files = DevelopmentCertificates.CreateDirectory(parse.GetValue(output)!, nodeCount, hostList, clientList,
                    TimeSpan.FromDays(parse.GetValue(days)));
                foreach (string file in files) await cli.Output.WriteLineAsync(file).ConfigureAwait(false);
                await cli.Output.WriteLineAsync(
                    $"development CA and certificates for nodes 1..{nodeCount} (hosts {string.Join(", ", hostList)}) and clients {string.Join(", ", clientList)}; see docs/security.md").ConfigureAwait(false);
                return RaftKvCli.ExitOk;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                await cli.Error.WriteLineAsync($"raftkv: {e.Message}").ConfigureAwait(false);
                return RaftKvCli.ExitOtherError;
            }
        });
        var certs = new Command("certs", "development certificates: " + Usage) { create };
        certs.SetAction((Func<ParseResult, int>)(_ => throw new UsageException(Usage)));
        return certs;
    }

    private static string[] Split(string? list) => (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
