using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Client.Protos;
using Spectre.Console;

namespace RaftKv.Cli;

/// <summary>The command tree. Each command's action returns its exit code; errors from the cluster surface as exceptions that <see cref="RaftKvCli.RunAsync"/> maps to exit codes.</summary>
internal static class CliCommands
{
    public static readonly Option<string?> CaFile = new("--cacert") { Description = "trust only this CA (PEM) for https:// endpoints", Recursive = true };
    public static readonly Option<string?> CertificateFile = new("--cert") { Description = "present this client certificate (PEM; mutual TLS), with --key", Recursive = true };
    public static readonly Option<string?> KeyFile = new("--key") { Description = "the private key (PEM) of --cert", Recursive = true };
    public static readonly Option<string?> Token = new("--token")
    {
        Description = $"send 'authorization: Bearer TOKEN' (default: ${RaftKvCli.TokenVariable}); needs https://",
        Recursive = true,
    };

    public static readonly Option<string?> Endpoints = new("--endpoints")
    {
        Description = $"comma-separated gateway addresses (default: ${RaftKvCli.EndpointsVariable}, else {RaftKvCli.DefaultEndpoints})",
        Recursive = true,
    };

    private static readonly Option<string> Output = new("--output", "-o")
    {
        Description = "table (for humans) or json (one JSON document per result, for scripts)",
        DefaultValueFactory = _ => "table",
        Recursive = true,
    };

    public static RootCommand Build(CliContext cli)
    {
        Output.AcceptOnlyFromAmong("table", "json");
        var root = new RootCommand("raftkv - command line for a RaftKv cluster\n\n" + RaftKvCli.ExitCodesHelp) { Endpoints, Output, CaFile, CertificateFile, KeyFile, Token };
        root.Subcommands.Add(Put(cli));
        root.Subcommands.Add(Get(cli));
        root.Subcommands.Add(Delete(cli));
        root.Subcommands.Add(CompareAndSwap(cli));
        root.Subcommands.Add(Scan(cli));
        root.Subcommands.Add(StatusCommand.Build(cli, Endpoints, Output));
        foreach (Command command in MemberCommands.Build(cli, Endpoints, Output)) root.Subcommands.Add(command);
        root.Subcommands.Add(SnapshotCommands.Build(cli));
        root.Subcommands.Add(CertificateCommands.Build(cli));
        root.Subcommands.Add(Completion(cli, root));
        return root;
    }

    private static Argument<string> Key() => new("KEY") { Description = "the key (UTF-8)" };

    private static Command Put(CliContext cli)
    {
        Argument<string> key = Key();
        var value = new Argument<string>("VALUE") { Description = "the value (UTF-8)" };
        var command = new Command("put", "write VALUE under KEY (acknowledged after a majority fsync)") { key, value };
        command.SetAction(async (parse, cancellation) =>
        {
            await using RaftKvClient client = cli.Connect(parse);
            PutResult result = await client.PutAsync(parse.GetValue(key)!, parse.GetValue(value)!, cancellation).ConfigureAwait(false);
            await WriteAsync(cli, parse, $"OK revision={result.ModRevision} created={result.CreateRevision}", json =>
            {
                json.WriteBoolean("ok", true);
                json.WriteNumber("mod_revision", result.ModRevision);
                json.WriteNumber("create_revision", result.CreateRevision);
            }).ConfigureAwait(false);
            return RaftKvCli.ExitOk;
        });
        return command;
    }

    private static Command Get(CliContext cli)
    {
        Argument<string> key = Key();
        var stale = new Option<bool>("--stale") { Description = "read the contacted node's local state (may be stale) instead of a linearizable read" };
        var command = new Command("get", "print KEY's value (linearizable unless --stale)") { key, stale };
        command.SetAction(async (parse, cancellation) =>
        {
            await using RaftKvClient client = cli.Connect(parse);
            var consistency = parse.GetValue(stale) ? ReadConsistency.Stale : ReadConsistency.Linearizable;
            KvItem? item = await client.GetAsync(parse.GetValue(key)!, consistency, cancellation).ConfigureAwait(false);
            if (item is null)
            {
                if (IsJson(parse)) await WriteJsonAsync(cli, json => json.WriteBoolean("found", false)).ConfigureAwait(false);
                await cli.Error.WriteLineAsync($"raftkv: key '{parse.GetValue(key)}' not found").ConfigureAwait(false);
                return RaftKvCli.ExitNotFoundOrCasFailed;
            }
            await WriteAsync(cli, parse, CliContext.Utf8(item.Value), json =>
            {
                json.WriteBoolean("found", true);
                WriteItem(json, item);
            }).ConfigureAwait(false);
            return RaftKvCli.ExitOk;
        });
        return command;
    }

    private static Command Delete(CliContext cli)
    {
        Argument<string> key = Key();
        var command = new Command("del", "delete KEY") { key };
        command.SetAction(async (parse, cancellation) =>
        {
            await using RaftKvClient client = cli.Connect(parse);
            DeleteResult result = await client.DeleteAsync(parse.GetValue(key)!, cancellation).ConfigureAwait(false);
            if (IsJson(parse)) await WriteJsonAsync(cli, json => json.WriteBoolean("deleted", result.Deleted)).ConfigureAwait(false);
            if (!result.Deleted)
            {
                await cli.Error.WriteLineAsync($"raftkv: key '{parse.GetValue(key)}' not found").ConfigureAwait(false);
                return RaftKvCli.ExitNotFoundOrCasFailed;
            }
            if (!IsJson(parse)) await cli.Output.WriteLineAsync("OK deleted").ConfigureAwait(false);
            return RaftKvCli.ExitOk;
        });
        return command;
    }

    private static Command CompareAndSwap(CliContext cli)
    {
        Argument<string> key = Key();
        var values = new Argument<string[]>("EXPECTED NEW | NEW")
        {
            Description = "the expected current value and the new one; only the new one with --expect-absent or --expect-revision",
            Arity = new ArgumentArity(1, 2),
        };
        var expectAbsent = new Option<bool>("--expect-absent") { Description = "write NEW only if KEY does not exist" };
        var expectRevision = new Option<ulong?>("--expect-revision") { Description = "write NEW only if KEY's mod revision is N (0 = absent)" };
        var command = new Command("cas", "compare-and-swap: write NEW if KEY's value (or revision, or absence) is as expected") { key, values, expectAbsent, expectRevision };
        command.Validators.Add(result =>
        {
            bool absent = result.GetValue(expectAbsent);
            ulong? revision = result.GetValue(expectRevision);
            int count = result.GetValue(values)?.Length ?? 0;
            if (absent && revision is not null) result.AddError("use only one of --expect-absent and --expect-revision");
            else if ((absent || revision is not null) && count != 1) result.AddError("usage: raftkv cas KEY NEW --expect-absent | --expect-revision N");
            else if (!absent && revision is null && count != 2) result.AddError("usage: raftkv cas KEY EXPECTED NEW");
        });
        command.SetAction(async (parse, cancellation) =>
        {
            await using RaftKvClient client = cli.Connect(parse);
            string[] given = parse.GetValue(values)!;
            (CasExpectation expected, string newValue) = (parse.GetValue(expectAbsent), parse.GetValue(expectRevision)) switch
            {
                (true, _) => (CasExpectation.Absent, given[0]),
                (_, { } revision) => (CasExpectation.ModRevision(revision), given[0]),
                _ => (CasExpectation.Value(Encoding.UTF8.GetBytes(given[0])), given[1]),
            };
            CasResult result = await client.CompareAndSwapAsync(parse.GetValue(key)!, expected, newValue, cancellation).ConfigureAwait(false);
            if (IsJson(parse))
            {
                await WriteJsonAsync(cli, json =>
                {
                    json.WriteBoolean("succeeded", result.Succeeded);
                    json.WriteNumber("mod_revision", result.ModRevision);
                    json.WriteNumber("create_revision", result.CreateRevision);
                    if (!result.Succeeded) json.WriteString("current_value", result.CurrentValue is null ? null : CliContext.Utf8(result.CurrentValue));
                }).ConfigureAwait(false);
            }
            if (!result.Succeeded)
            {
                string current = result.CurrentValue is null ? "key absent" : $"current revision={result.ModRevision} value={CliContext.Utf8(result.CurrentValue)}";
                await cli.Error.WriteLineAsync($"raftkv: compare-and-swap failed: {current}").ConfigureAwait(false);
                return RaftKvCli.ExitNotFoundOrCasFailed;
            }
            if (!IsJson(parse)) await cli.Output.WriteLineAsync($"OK revision={result.ModRevision} created={result.CreateRevision}").ConfigureAwait(false);
            return RaftKvCli.ExitOk;
        });
        return command;
    }

    private static Command Scan(CliContext cli)
    {
        var prefix = new Argument<string>("PREFIX") { Description = "list keys starting with PREFIX" };
        var limit = new Option<int>("--limit") { Description = "at most N keys", DefaultValueFactory = _ => 100 };
        AtLeast(limit, 1, "--limit needs a positive integer");
        var command = new Command("scan", "list keys starting with PREFIX, one \"key<TAB>value\" per line (a bounded full scan: for tools, not hot paths)") { prefix, limit };
        command.SetAction(async (parse, cancellation) =>
        {
            await using RaftKvClient client = cli.Connect(parse);
            IReadOnlyList<KvItem> items = await client.ScanAsync(parse.GetValue(prefix)!, parse.GetValue(limit), ReadConsistency.Linearizable, cancellation).ConfigureAwait(false);
            if (IsJson(parse))
            {
                await WriteJsonAsync(cli, json =>
                {
                    json.WriteStartArray("items");
                    foreach (KvItem item in items)
                    {
                        json.WriteStartObject();
                        WriteItem(json, item);
                        json.WriteEndObject();
                    }
                    json.WriteEndArray();
                }).ConfigureAwait(false);
                return RaftKvCli.ExitOk;
            }
            foreach (KvItem item in items)
            {
                await cli.Output.WriteLineAsync($"{CliContext.Utf8(item.Key)}\t{CliContext.Utf8(item.Value)}").ConfigureAwait(false);
            }
            return RaftKvCli.ExitOk;
        });
        return command;
    }

    /// <summary>
    /// Shell completion through System.CommandLine's <c>[suggest]</c> directive: the printed script asks raftkv itself
    /// for the candidates, so completion always matches the installed grammar.
    /// </summary>
    private static Command Completion(CliContext cli, RootCommand root)
    {
        var shell = new Argument<string>("SHELL") { Description = "bash or zsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion", "print a shell completion script: source <(raftkv completion bash)") { shell };
        command.SetAction(async parse =>
        {
            string script = parse.GetValue(shell) switch
            {
                "zsh" => """
                    #compdef raftkv
                    _raftkv() {
                      local -a candidates
                      candidates=("${(@f)$(raftkv "[suggest:${#BUFFER}]" "$BUFFER" 2>/dev/null)}")
                      compadd -- $candidates
                    }
                    compdef _raftkv raftkv
                    """,
                _ => """
                    _raftkv_complete() {
                      local IFS=$'\n'
                      COMPREPLY=($(raftkv "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null))
                    }
                    complete -o default -F _raftkv_complete raftkv
                    """,
            };
            await cli.Output.WriteLineAsync(script).ConfigureAwait(false);
            return RaftKvCli.ExitOk;
        });
        _ = root;
        return command;
    }

    /// <summary>Rejects a given integer below <paramref name="minimum"/>; a token that is not an integer is already reported by the parser.</summary>
    public static void AtLeast(Option<int> option, int minimum, string message) => option.Validators.Add(result =>
    {
        if (result.Tokens.Count > 0 && int.TryParse(result.Tokens[^1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) && value < minimum)
        {
            result.AddError(message);
        }
    });

    public static bool IsJson(ParseResult parse) => parse.GetValue(Output) == "json";

    private static Task WriteAsync(CliContext cli, ParseResult parse, string text, Action<Utf8JsonWriter> json) =>
        IsJson(parse) ? WriteJsonAsync(cli, json) : cli.Output.WriteLineAsync(text);

    /// <summary>One JSON object on one line.</summary>
    public static async Task WriteJsonAsync(CliContext cli, Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }
        await cli.Output.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
    }

    private static void WriteItem(Utf8JsonWriter json, KvItem item)
    {
        json.WriteString("key", CliContext.Utf8(item.Key));
        json.WriteString("value", CliContext.Utf8(item.Value));
        json.WriteNumber("create_revision", item.CreateRevision);
        json.WriteNumber("mod_revision", item.ModRevision);
    }
}
