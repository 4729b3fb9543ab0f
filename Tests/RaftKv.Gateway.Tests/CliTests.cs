using RaftKv.Cli;
using RaftKv.Gateway.Tests.Infrastructure;

namespace RaftKv.Gateway.Tests;

public sealed class CliTests : IAsyncLifetime
{
    private FakeRaftKvNode _node = null!;
    private GatewayTestServer _server = null!;

    public async Task InitializeAsync()
    {
        _node = new FakeRaftKvNode(1);
        _server = await GatewayTestServer.StartAsync(_node);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _node.Dispose();
    }

    private async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await RaftKvCli.RunAsync(args, output, error, endpointsFromEnvironment: _server.Address, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Put_get_delete_round_trip_with_exit_codes()
    {
        Assert.Equal(0, (await RunAsync("put", "k", "hello")).Exit);
        var get = await RunAsync("get", "k");
        Assert.Equal(0, get.Exit);
        Assert.Equal("hello", get.Output.Trim());
        Assert.Equal(0, (await RunAsync("get", "k", "--stale")).Exit);
        Assert.Equal(0, (await RunAsync("del", "k")).Exit);
        Assert.Equal(1, (await RunAsync("get", "k")).Exit);
        Assert.Equal(1, (await RunAsync("del", "k")).Exit);
    }

    [Fact]
    public async Task Member_commands_print_the_new_configuration_and_refusals_and_bad_ids_get_their_exit_codes()
    {
        var added = await RunAsync("member", "add", "4", "http://10.0.0.4:7204", "http://10.0.0.4:7104");
        Assert.Equal(0, added.Exit);
        string[] lines = added.Output.Trim().Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.Equal("leader=1 term=1", lines[0]);
        Assert.StartsWith("ID", lines[1], StringComparison.Ordinal);
        Assert.Matches(@"^1\s+voter\s+\*", lines[2]);
        Assert.Matches(@"^4\s+learner\s+http://10\.0\.0\.4:7204\s+http://10\.0\.0\.4:7104$", lines[3]);

        Assert.Equal(0, (await RunAsync("member", "promote", "4")).Exit);
        Assert.Equal(0, (await RunAsync("leader", "transfer", "4")).Exit);
        Assert.Equal(0, (await RunAsync("member", "remove", "4")).Exit);
        // After the removal the list shows node 1 and no row for node 4.
        string[] listed = (await RunAsync("member", "list")).Output.Trim().Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.Matches(@"^1\s+voter\s+\*", listed[2]);
        Assert.DoesNotContain(listed, l => l.StartsWith("4 ", StringComparison.Ordinal));
        Assert.Equal(["add 4", "promote 4", "transfer 4", "remove 4"], _node.AdminCalls);

        Assert.Equal(2, (await RunAsync("member", "promote", "four")).Exit);
        Assert.Equal(2, (await RunAsync("member", "add", "5")).Exit);
        Assert.Equal(2, (await RunAsync("member")).Exit);
        Assert.Equal(2, (await RunAsync("leader", "elect", "2")).Exit);
        _node.AdminFault = new RaftKv.Node.MembershipChangeRefusedException("node 9 is not a member");
        var refused = await RunAsync("member", "remove", "9");
        Assert.Equal(5, refused.Exit);
        Assert.Contains("not a member", refused.Error, StringComparison.Ordinal);
        Assert.Equal(4, _node.AdminCalls.Count); // nothing else reached the node
    }

    [Fact]
    public async Task Cas_exit_codes()
    {
        Assert.Equal(0, (await RunAsync("cas", "c", "v1", "--expect-absent")).Exit);
        Assert.Equal(1, (await RunAsync("cas", "c", "v2", "--expect-absent")).Exit);
        Assert.Equal(1, (await RunAsync("cas", "c", "wrong", "v2")).Exit);
        Assert.Equal(0, (await RunAsync("cas", "c", "v1", "v2")).Exit);
        ulong revision = _node.StateMachine.Get("c"u8.ToArray())!.Version.ModIndex;
        Assert.Equal(0, (await RunAsync("cas", "c", "v3", "--expect-revision", revision.ToString(System.Globalization.CultureInfo.InvariantCulture))).Exit);
        Assert.Equal(1, (await RunAsync("cas", "c", "v4", $"--expect-revision={revision}")).Exit);
        Assert.Equal("v3", (await RunAsync("get", "c")).Output.Trim());
    }

    [Fact]
    public async Task Scan_and_status()
    {
        await RunAsync("put", "p/1", "a");
        await RunAsync("put", "p/2", "b");
        var scan = await RunAsync("scan", "p/", "--limit", "1");
        Assert.Equal(0, scan.Exit);
        Assert.Equal("p/1\ta", scan.Output.Trim());

        var status = await RunAsync("status");
        Assert.Equal(0, status.Exit);
        Assert.Contains("role=Leader", status.Output, StringComparison.Ordinal);

        var all = await RunAsync("status", "--all");
        Assert.Equal(0, all.Exit);
        Assert.Contains(_server.Address, all.Output, StringComparison.Ordinal);
        Assert.Contains("Leader", all.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_output_is_one_parseable_document_per_result()
    {
        var put = await RunAsync("put", "j", "v1", "--output", "json");
        Assert.Equal(0, put.Exit);
        using (var document = System.Text.Json.JsonDocument.Parse(put.Output))
        {
            Assert.True(document.RootElement.GetProperty("ok").GetBoolean());
            Assert.True(document.RootElement.GetProperty("mod_revision").GetUInt64() > 0);
        }
        var get = await RunAsync("-o", "json", "get", "j");
        using (var document = System.Text.Json.JsonDocument.Parse(get.Output))
        {
            Assert.Equal("v1", document.RootElement.GetProperty("value").GetString());
            Assert.Equal("j", document.RootElement.GetProperty("key").GetString());
        }
        var missing = await RunAsync("get", "nope", "--output", "json");
        Assert.Equal(1, missing.Exit);
        using (var document = System.Text.Json.JsonDocument.Parse(missing.Output))
        {
            Assert.False(document.RootElement.GetProperty("found").GetBoolean());
        }
        var status = await RunAsync("status", "--all", "--output", "json");
        Assert.Equal(0, status.Exit);
        using (var document = System.Text.Json.JsonDocument.Parse(status.Output))
        {
            var member = Assert.Single(document.RootElement.GetProperty("members").EnumerateArray());
            Assert.Equal("Leader", member.GetProperty("role").GetString());
            Assert.True(member.GetProperty("reachable").GetBoolean());
        }
    }

    [Fact]
    public async Task Status_watch_refreshes_until_its_count()
    {
        await RunAsync("put", "w", "1");
        var watch = await RunAsync("status", "--watch", "--count", "3", "--interval-ms", "100", "--output", "json");
        Assert.Equal(0, watch.Exit);
        string[] lines = watch.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        foreach (string line in lines)
        {
            using var document = System.Text.Json.JsonDocument.Parse(line);
            Assert.Equal("Leader", document.RootElement.GetProperty("members")[0].GetProperty("role").GetString());
        }
        var table = await RunAsync("status", "--watch", "--count", "2", "--interval-ms", "100");
        Assert.Equal(0, table.Exit);
        Assert.Equal(2, table.Output.Split("ADDRESS").Length - 1);
    }

    [Fact]
    public async Task Completion_scripts_ask_raftkv_for_candidates()
    {
        var bash = await RunAsync("completion", "bash");
        Assert.Equal(0, bash.Exit);
        Assert.Contains("complete -o default -F _raftkv_complete raftkv", bash.Output, StringComparison.Ordinal);
        Assert.Contains("[suggest:", bash.Output, StringComparison.Ordinal);
        // What the script runs: the [suggest] directive lists the commands that match the word being completed.
        var suggestions = await RunAsync("[suggest:9]", "raftkv st");
        Assert.Equal(0, suggestions.Exit);
        Assert.Contains("status", suggestions.Output.Split('\n', StringSplitOptions.TrimEntries));
        Assert.Equal(2, (await RunAsync("completion", "fish")).Exit);
    }

    [Theory]
    [InlineData]
    [InlineData("frobnicate")]
    [InlineData("put", "k", "v", "--output", "yaml")]
    [InlineData("status", "--count", "2")]
    [InlineData("put", "only-key")]
    [InlineData("get", "k", "--limit", "3")]
    [InlineData("scan", "p", "--limit", "zero")]
    [InlineData("cas", "k", "v", "--expect-absent", "--expect-revision", "3")]
    [InlineData("--endpoints", "not-a-url", "get", "k")]
    public async Task Usage_errors_exit_2(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.Equal(2, result.Exit);
        Assert.NotEmpty(result.Error);
    }

    [Fact]
    public async Task Help_documents_exit_codes()
    {
        var help = await RunAsync("--help");
        Assert.Equal(0, help.Exit);
        Assert.Contains("Exit codes", help.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_argument_exits_4()
    {
        string longKey = new('k', FakeRaftKvNode.SmallOptions.MaxKeyBytes + 1);
        Assert.Equal(4, (await RunAsync("put", longKey, "v")).Exit);
    }

    [Fact]
    public async Task Unreachable_cluster_exits_3()
    {
        var result = await RunAsync("--endpoints", ClosedPort.Address(), "get", "k");
        Assert.Equal(3, result.Exit);
    }

    [Fact]
    public async Task No_leader_exits_3()
    {
        _node.LeaderId = 0;
        Assert.Equal(3, (await RunAsync("put", "k", "v")).Exit);
    }
}
