using System.Globalization;
using System.Text;
using RaftKv.Client;
using Grpc.Core;

namespace RaftKv.Cli;

/// <summary>The <c>raftkv</c> command line. Arguments are parsed by hand: the grammar is small and fixed.</summary>
public static class RaftKvCli
{
    public const int ExitOk = 0;
    public const int ExitNotFoundOrCasFailed = 1;
    public const int ExitUsage = 2;
    public const int ExitUnavailable = 3;
    public const int ExitInvalidArgument = 4;
    public const int ExitOtherError = 5;

    public const string EndpointsVariable = "RAFTKV_ENDPOINTS";
    public const string DefaultEndpoints = "http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103";

    public const string Help = """
        raftkv - command line for a RaftKv cluster

        Usage:
          raftkv [--endpoints URLS] <command> [arguments]

        Commands:
          put KEY VALUE                       write VALUE under KEY
          get KEY [--stale]                   print KEY's value (linearizable; --stale reads the contacted node's local state)
          del KEY                             delete KEY
          cas KEY EXPECTED NEW                write NEW if KEY's value equals EXPECTED
          cas KEY NEW --expect-absent         write NEW if KEY does not exist
          cas KEY NEW --expect-revision N     write NEW if KEY's mod revision is N (0 = absent)
          scan PREFIX [--limit N]             list up to N keys (default 100) starting with PREFIX, one "key<TAB>value" per line
                                              (a bounded full scan of the store: meant for tools, not hot paths)
          status [--all]                      status of one node, or a table of every member
          snapshot save FILE                  stream a consistent snapshot from the leader into FILE (checksum verified,
                                              written to a temp file and renamed: FILE is never left half-written)
          snapshot restore FILE --data-dir DIR --node-id N --members ID,ID,...
                                              offline: seed member N's empty data directory of a NEW cluster from FILE;
                                              run once per member with the same FILE and --members, then start the silos

        Options:
          --endpoints URLS    comma-separated gateway addresses
                              (default: $RAFTKV_ENDPOINTS, else http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103)
          -h, --help          show this help

        Exit codes:
          0  success
          1  key not found (get, del) or compare-and-swap failed (cas)
          2  usage error
          3  cluster unavailable (no leader, unreachable, timed out)
          4  invalid argument (empty or oversized key or value, a damaged snapshot file, a non-empty --data-dir, ...)
          5  any other error (including an expired session)
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, string? endpointsFromEnvironment,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (!CommandLine.TryParse(args, out var command, out string usageError))
        {
            await error.WriteLineAsync($"raftkv: {usageError}\nRun 'raftkv --help' for usage.").ConfigureAwait(false);
            return ExitUsage;
        }
        if (command.Help)
        {
            await output.WriteLineAsync(Help).ConfigureAwait(false);
            return ExitOk;
        }

        if (command.Name == "snapshot" && command.Positional[0] == "restore")
        {
            return await SnapshotCommands.RestoreAsync(command, output, error).ConfigureAwait(false);
        }

        string endpoints = command.Endpoints ?? (string.IsNullOrWhiteSpace(endpointsFromEnvironment) ? DefaultEndpoints : endpointsFromEnvironment);
        var options = new RaftKvClientOptions
        {
            Endpoints = endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            MaxAttempts = 4,
            AttemptTimeoutMs = 3_000,
        };
        var optionErrors = options.Validate();
        if (optionErrors.Count > 0)
        {
            await error.WriteLineAsync($"raftkv: {string.Join(" ", optionErrors)}").ConfigureAwait(false);
            return ExitUsage;
        }

        await using var client = new RaftKvClient(options);
        try
        {
            return await new Commands(client, output, error).RunAsync(command, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException failure)
        {
            await error.WriteLineAsync($"raftkv: {failure.StatusCode}: {failure.Status.Detail}").ConfigureAwait(false);
            return failure.StatusCode switch
            {
                StatusCode.Unavailable or StatusCode.DeadlineExceeded => ExitUnavailable,
                StatusCode.InvalidArgument => ExitInvalidArgument,
                _ => ExitOtherError,
            };
        }
        catch (RaftKvSessionExpiredException expired)
        {
            await error.WriteLineAsync($"raftkv: {expired.Message}").ConfigureAwait(false);
            return ExitOtherError;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync("raftkv: cancelled").ConfigureAwait(false);
            return ExitOtherError;
        }
    }

    private sealed class Commands(RaftKvClient client, TextWriter output, TextWriter error)
    {
        public Task<int> RunAsync(CommandLine command, CancellationToken cancellationToken) => command.Name switch
        {
            "put" => PutAsync(command, cancellationToken),
            "get" => GetAsync(command, cancellationToken),
            "del" => DeleteAsync(command, cancellationToken),
            "cas" => CompareAndSwapAsync(command, cancellationToken),
            "scan" => ScanAsync(command, cancellationToken),
            "status" => StatusAsync(command, cancellationToken),
            "snapshot" => SnapshotCommands.SaveAsync(client, command.Positional[1], output, error, cancellationToken),
            _ => throw new InvalidOperationException($"unparsed command {command.Name}"),
        };

        private async Task<int> PutAsync(CommandLine command, CancellationToken cancellationToken)
        {
            var result = await client.PutAsync(command.Positional[0], command.Positional[1], cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"OK revision={result.ModRevision} created={result.CreateRevision}").ConfigureAwait(false);
            return ExitOk;
        }

        private async Task<int> GetAsync(CommandLine command, CancellationToken cancellationToken)
        {
            var consistency = command.Stale ? ReadConsistency.Stale : ReadConsistency.Linearizable;
            var item = await client.GetAsync(command.Positional[0], consistency, cancellationToken).ConfigureAwait(false);
            if (item is null)
            {
                await error.WriteLineAsync($"raftkv: key '{command.Positional[0]}' not found").ConfigureAwait(false);
                return ExitNotFoundOrCasFailed;
            }
            await output.WriteLineAsync(Encoding.UTF8.GetString(item.Value)).ConfigureAwait(false);
            return ExitOk;
        }

        private async Task<int> DeleteAsync(CommandLine command, CancellationToken cancellationToken)
        {
            var result = await client.DeleteAsync(command.Positional[0], cancellationToken).ConfigureAwait(false);
            if (!result.Deleted)
            {
                await error.WriteLineAsync($"raftkv: key '{command.Positional[0]}' not found").ConfigureAwait(false);
                return ExitNotFoundOrCasFailed;
            }
            await output.WriteLineAsync("OK deleted").ConfigureAwait(false);
            return ExitOk;
        }

        private async Task<int> CompareAndSwapAsync(CommandLine command, CancellationToken cancellationToken)
        {
            string key = command.Positional[0];
            (CasExpectation expected, string newValue) = command switch
            {
                { ExpectAbsent: true } => (CasExpectation.Absent, command.Positional[1]),
                { ExpectRevision: { } revision } => (CasExpectation.ModRevision(revision), command.Positional[1]),
                _ => (CasExpectation.Value(Encoding.UTF8.GetBytes(command.Positional[1])), command.Positional[2]),
            };
            var result = await client.CompareAndSwapAsync(key, expected, newValue, cancellationToken).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                string current = result.CurrentValue is null ? "key absent" : $"current revision={result.ModRevision} value={Encoding.UTF8.GetString(result.CurrentValue)}";
                await error.WriteLineAsync($"raftkv: compare-and-swap failed: {current}").ConfigureAwait(false);
                return ExitNotFoundOrCasFailed;
            }
            await output.WriteLineAsync($"OK revision={result.ModRevision} created={result.CreateRevision}").ConfigureAwait(false);
            return ExitOk;
        }

        private async Task<int> ScanAsync(CommandLine command, CancellationToken cancellationToken)
        {
            var items = await client.ScanAsync(command.Positional[0], command.Limit ?? 100, ReadConsistency.Linearizable, cancellationToken).ConfigureAwait(false);
            foreach (var item in items)
            {
                await output.WriteLineAsync($"{Encoding.UTF8.GetString(item.Key)}\t{Encoding.UTF8.GetString(item.Value)}").ConfigureAwait(false);
            }
            return ExitOk;
        }

        private async Task<int> StatusAsync(CommandLine command, CancellationToken cancellationToken)
        {
            var status = await client.StatusAsync(endpoint: null, cancellationToken).ConfigureAwait(false);
            if (!command.All)
            {
                string members = string.Join(",", status.Members.Select(m => m.Id.ToString(CultureInfo.InvariantCulture)));
                await output.WriteLineAsync(
                    $"node={status.NodeId} role={status.Role} term={status.Term} leader={status.LeaderId} leader_address={status.LeaderAddress} " +
                    $"commit={status.CommitIndex} applied={status.AppliedIndex} members={members}").ConfigureAwait(false);
                return ExitOk;
            }
            var rows = new List<string[]> { new[] { "ID", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED" } };
            bool allReachable = true;
            foreach (var member in status.Members)
            {
                if (member.Address.Length == 0)
                {
                    rows.Add([Invariant(member.Id), "?", "unknown", "-", "-", "-", "-"]);
                    allReachable = false;
                    continue;
                }
                try
                {
                    var s = await client.StatusAsync(member.Address, cancellationToken).ConfigureAwait(false);
                    rows.Add([Invariant(s.NodeId), member.Address, s.Role.ToString(), Invariant(s.Term), Invariant(s.LeaderId), Invariant(s.CommitIndex), Invariant(s.AppliedIndex)]);
                }
                catch (RpcException failure) when (failure.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
                {
                    rows.Add([Invariant(member.Id), member.Address, "unreachable", "-", "-", "-", "-"]);
                    allReachable = false;
                }
            }
            int[] widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (var row in rows)
            {
                await output.WriteLineAsync(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd()).ConfigureAwait(false);
            }
            return allReachable ? ExitOk : ExitUnavailable;
        }

        private static string Invariant(ulong value) => value.ToString(CultureInfo.InvariantCulture);
    }
}
