using System.CommandLine;
using RaftKv.Client;
using RaftKv.Client.Protos;

namespace RaftKv.Cli;

/// <summary>
/// <c>member list|add|promote|remove</c> and <c>leader transfer</c>: each change waits for the new configuration to
/// commit (a transfer: for the target to lead) and prints it.
/// </summary>
internal static class MemberCommands
{
    public static IEnumerable<Command> Build(CliContext cli, Option<string?> endpoints, Option<string> output)
    {
        var member = new Command("member", "list or change the cluster's members (each change waits for its commit and prints the new configuration)");
        var list = new Command("list", "the configuration: voters and learners with their addresses, and the leader");
        list.SetAction((parse, cancellation) => RunAsync(cli, parse, endpoints, output, client => client.MemberListAsync(cancellation)));
        member.Subcommands.Add(list);

        Argument<ulong> addId = Id();
        var peer = new Argument<string>("PEER_URL") { Description = "the new node's peer (Raft mesh) address" };
        var client = new Argument<string>("CLIENT_URL") { Description = "the new node's client (gateway) address" };
        var add = new Command("add", "add node ID as a learner (it receives the log but does not vote yet)") { addId, peer, client };
        add.SetAction((parse, cancellation) => RunAsync(cli, parse, endpoints, output,
            c => c.MemberAddLearnerAsync(parse.GetValue(addId), parse.GetValue(peer)!, parse.GetValue(client)!, cancellation)));
        member.Subcommands.Add(add);

        Argument<ulong> promoteId = Id();
        var promote = new Command("promote", "make learner ID a voter (refused while it is far behind: retry later)") { promoteId };
        promote.SetAction((parse, cancellation) => RunAsync(cli, parse, endpoints, output, c => c.MemberPromoteAsync(parse.GetValue(promoteId), cancellation)));
        member.Subcommands.Add(promote);

        Argument<ulong> removeId = Id();
        var remove = new Command("remove", "remove voter or learner ID (the leader too: it steps down after the commit)") { removeId };
        remove.SetAction((parse, cancellation) => RunAsync(cli, parse, endpoints, output, c => c.MemberRemoveAsync(parse.GetValue(removeId), cancellation)));
        member.Subcommands.Add(remove);

        var leader = new Command("leader", "leadership");
        Argument<ulong> target = Id();
        var transfer = new Command("transfer", "move leadership to voter ID (writes pause for the handover)") { target };
        transfer.SetAction((parse, cancellation) => RunAsync(cli, parse, endpoints, output, c => c.LeaderTransferAsync(parse.GetValue(target), cancellation)));
        leader.Subcommands.Add(transfer);
        return [member, leader];
    }

    private static Argument<ulong> Id() => new("ID") { Description = "a node id (a positive integer)" };

    private static async Task<int> RunAsync(CliContext cli, ParseResult parse, Option<string?> endpoints, Option<string> output,
        Func<RaftKvClient, Task<MembershipResponse>> call)
    {
        await using RaftKvClient client = cli.Connect(parse);
        MembershipResponse membership = await call(client).ConfigureAwait(false);
        if (parse.GetValue(output) == "json")
        {
            await CliCommands.WriteJsonAsync(cli, json =>
            {
                json.WriteNumber("leader_id", membership.LeaderId);
                json.WriteNumber("term", membership.Term);
                json.WriteBoolean("configuration_pending", membership.ConfigurationPending);
                json.WriteStartArray("members");
                foreach (Member m in Ordered(membership))
                {
                    json.WriteStartObject();
                    json.WriteNumber("id", m.Id);
                    json.WriteBoolean("voter", m.Voter);
                    json.WriteString("peer_address", m.PeerAddress);
                    json.WriteString("client_address", m.Address);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }).ConfigureAwait(false);
            return RaftKvCli.ExitOk;
        }
        // Plain aligned columns (not a boxed table): the output is grepped by scripts as often as read.
        await cli.Output.WriteLineAsync(
            $"leader={membership.LeaderId} term={membership.Term}{(membership.ConfigurationPending ? " (a change is not committed yet)" : "")}").ConfigureAwait(false);
        var rows = new List<string[]> { new[] { "ID", "ROLE", "LEADER", "PEER ADDRESS", "CLIENT ADDRESS" } };
        foreach (Member m in Ordered(membership))
        {
            rows.Add([CliContext.Invariant(m.Id), m.Voter ? "voter" : "learner", m.Id == membership.LeaderId ? "*" : "",
                m.PeerAddress.Length > 0 ? m.PeerAddress : "?", m.Address.Length > 0 ? m.Address : "?"]);
        }
        int[] widths = [.. Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length))];
        foreach (string[] row in rows)
        {
            await cli.Output.WriteLineAsync(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd()).ConfigureAwait(false);
        }
        return RaftKvCli.ExitOk;
    }

    private static IEnumerable<Member> Ordered(MembershipResponse membership) => membership.Members.OrderBy(m => !m.Voter).ThenBy(m => m.Id);
}
