using System.CommandLine;
using System.Text.Json;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Client.Protos;
using Spectre.Console;

namespace RaftKv.Cli;

/// <summary><c>status</c>: one node's view, every member's (<c>--all</c>), or a live table (<c>--watch</c>) like a leader watcher.</summary>
internal static class StatusCommand
{
    private sealed record MemberRow(ulong Id, string Address, StatusResponse? Status, string? Problem);

    public static Command Build(CliContext cli, Option<string?> endpoints, Option<string> output)
    {
        var all = new Option<bool>("--all") { Description = "a table of every member" };
        var watch = new Option<bool>("--watch") { Description = "keep refreshing the table of every member until interrupted (Ctrl+C)" };
        var interval = new Option<int>("--interval-ms") { Description = "refresh period for --watch", DefaultValueFactory = _ => 1_000 };
        var count = new Option<int>("--count") { Description = "with --watch: stop after N refreshes" };
        CliCommands.AtLeast(interval, 100, "--interval-ms needs at least 100");
        CliCommands.AtLeast(count, 1, "--count needs a positive integer");
        var command = new Command("status", "status of one node, a table of every member (--all), or a live table (--watch)") { all, watch, interval, count };
        command.Validators.Add(r =>
        {
            if ((r.GetResult(interval) is { Implicit: false } || r.GetResult(count) is { Implicit: false }) && !r.GetValue(watch))
            {
                r.AddError("--interval-ms and --count apply to status --watch only");
            }
        });
        command.SetAction(async (parse, cancellation) =>
        {
            await using RaftKvClient client = cli.Connect(parse);
            bool json = parse.GetValue(output) == "json";
            if (parse.GetValue(watch))
            {
                return await WatchAsync(cli, client, json, TimeSpan.FromMilliseconds(parse.GetValue(interval)), parse.GetResult(count) is { Implicit: false } ? parse.GetValue(count) : null, cancellation).ConfigureAwait(false);
            }
            if (!parse.GetValue(all))
            {
                StatusResponse status = await client.StatusAsync(endpoint: null, cancellation).ConfigureAwait(false);
                if (json)
                {
                    await CliCommands.WriteJsonAsync(cli, w => WriteStatus(w, status)).ConfigureAwait(false);
                    return RaftKvCli.ExitOk;
                }
                string members = string.Join(",", status.Members.Select(m => CliContext.Invariant(m.Id)));
                await cli.Output.WriteLineAsync(
                    $"node={status.NodeId} role={status.Role} term={status.Term} leader={status.LeaderId} leader_address={status.LeaderAddress} " +
                    $"commit={status.CommitIndex} applied={status.AppliedIndex} members={members}").ConfigureAwait(false);
                return RaftKvCli.ExitOk;
            }
            IReadOnlyList<MemberRow> rows = await CollectAsync(client, cancellation).ConfigureAwait(false);
            if (json) await WriteJsonAsync(cli, rows).ConfigureAwait(false);
            else cli.Console.Write(Table(rows));
            return rows.All(r => r.Status is not null) ? RaftKvCli.ExitOk : RaftKvCli.ExitUnavailable;
        });
        return command;
    }

    private static async Task<int> WatchAsync(CliContext cli, RaftKvClient client, bool json, TimeSpan interval, int? count, CancellationToken cancellation)
    {
        int refreshes = 0;
        bool More() => !cancellation.IsCancellationRequested && (count is null || refreshes < count);
        try
        {
            if (!json && cli.Console.Profile.Capabilities.Interactive)
            {
                await cli.Console.Live(new Table()).StartAsync(async live =>
                {
                    while (More())
                    {
                        live.UpdateTarget(Table(await CollectAsync(client, cancellation).ConfigureAwait(false)));
                        refreshes++;
                        if (More()) await Task.Delay(interval, cancellation).ConfigureAwait(false);
                    }
                }).ConfigureAwait(false);
                return RaftKvCli.ExitOk;
            }
            // Not a terminal (or JSON): one table or one JSON line per refresh.
            while (More())
            {
                IReadOnlyList<MemberRow> rows = await CollectAsync(client, cancellation).ConfigureAwait(false);
                if (json) await WriteJsonAsync(cli, rows).ConfigureAwait(false);
                else cli.Console.Write(Table(rows));
                refreshes++;
                if (More()) await Task.Delay(interval, cancellation).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl+C ends a watch normally.
        }
        return RaftKvCli.ExitOk;
    }

    private static async Task<IReadOnlyList<MemberRow>> CollectAsync(RaftKvClient client, CancellationToken cancellation)
    {
        StatusResponse first = await client.StatusAsync(endpoint: null, cancellation).ConfigureAwait(false);
        var rows = new List<MemberRow>();
        foreach (Member member in first.Members)
        {
            if (member.Address.Length == 0)
            {
                rows.Add(new MemberRow(member.Id, "", null, "unknown"));
                continue;
            }
            try
            {
                rows.Add(new MemberRow(member.Id, member.Address, await client.StatusAsync(member.Address, cancellation).ConfigureAwait(false), null));
            }
            catch (RpcException failure) when (failure.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                rows.Add(new MemberRow(member.Id, member.Address, null, "unreachable"));
            }
        }
        return rows;
    }

    private static Table Table(IReadOnlyList<MemberRow> rows)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (string column in new[] { "ID", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED" }) table.AddColumn(column);
        foreach (MemberRow row in rows)
        {
            StatusResponse? s = row.Status;
            string role = s is null ? $"[red]{row.Problem}[/]" : s.Role == Role.Leader ? "[green]Leader[/]" : s.Role.ToString();
            table.AddRow(
                CliContext.Invariant(row.Id), Markup.Escape(row.Address.Length == 0 ? "?" : row.Address), role,
                s is null ? "-" : CliContext.Invariant(s.Term), s is null ? "-" : CliContext.Invariant(s.LeaderId),
                s is null ? "-" : CliContext.Invariant(s.CommitIndex), s is null ? "-" : CliContext.Invariant(s.AppliedIndex));
        }
        return table;
    }

    private static Task WriteJsonAsync(CliContext cli, IReadOnlyList<MemberRow> rows) => CliCommands.WriteJsonAsync(cli, w =>
    {
        w.WriteStartArray("members");
        foreach (MemberRow row in rows)
        {
            w.WriteStartObject();
            w.WriteNumber("id", row.Id);
            w.WriteString("address", row.Address);
            if (row.Status is { } status)
            {
                w.WriteBoolean("reachable", true);
                WriteStatus(w, status);
            }
            else
            {
                w.WriteBoolean("reachable", false);
                w.WriteString("problem", row.Problem);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });

    private static void WriteStatus(Utf8JsonWriter w, StatusResponse status)
    {
        w.WriteNumber("node_id", status.NodeId);
        w.WriteString("role", status.Role.ToString());
        w.WriteNumber("term", status.Term);
        w.WriteNumber("leader_id", status.LeaderId);
        w.WriteString("leader_address", status.LeaderAddress);
        w.WriteNumber("commit_index", status.CommitIndex);
        w.WriteNumber("applied_index", status.AppliedIndex);
        w.WriteStartArray("member_ids");
        foreach (Member member in status.Members) w.WriteNumberValue(member.Id);
        w.WriteEndArray();
    }
}
