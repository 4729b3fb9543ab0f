using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using RaftKv.Client;
using RaftKv.Client.Protos;
using RaftKv.Integration.Tests.Infrastructure;
using RaftKv.Node;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>
/// The live cluster page, loaded in headless Chromium from a real silo's monitoring port, shows what the status API
/// says: every member with its role, term and leader, the leader in the header and the leader history, and a killed
/// member as unreachable. RAFTKV_PAGE_SCREENSHOT=path also saves a screenshot (docs/cluster-page.png was made so).
/// </summary>
[Collection("silo processes")]
public sealed partial class ClusterPageTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_page_in_headless_Chromium_shows_what_the_status_API_says()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        string chromium = await HeadlessChromium.EnsureInstalledAsync(timeout.Token);
        await using var cluster = new SiloProcessCluster();
        ulong leader = await cluster.WaitForLeaderAsync(Deadline);
        await using (RaftKvClient client = cluster.NewClient())
        {
            for (int i = 0; i < 10; i++) await client.PutAsync($"page{i}", "v");
        }
        ulong viewer = cluster.Members.Select(m => m.Id).First(id => id != leader);
        string url = cluster.HttpAddress(viewer) + "/";

        // The page refreshes itself and the cluster keeps moving (commit indexes), so compare the fields that stay put
        // while nothing fails: ids, roles, terms and leaders.
        await cluster.WaitUntilAsync(async () =>
        {
            string dom = await HeadlessChromium.DumpDomAsync(chromium, url, TimeSpan.FromSeconds(5),
                Environment.GetEnvironmentVariable("RAFTKV_PAGE_SCREENSHOT"), timeout.Token);
            Dictionary<ulong, Dictionary<string, string>> rows = Rows(dom);
            if (rows.Count != cluster.Members.Count) return false;
            ulong currentLeader = 0;
            foreach (NodeMember member in cluster.Members)
            {
                StatusResponse? status = await cluster.TryStatusAsync(member.Id);
                if (status is null) return false;
                currentLeader = status.LeaderId;
                Dictionary<string, string> row = rows[member.Id];
                if (row["role"] != status.Role.ToString() || row["term"] != Invariant(status.Term) || row["leader"] != Invariant(status.LeaderId)
                    || row["address"] != member.ClientAddress || row["kind"] != "voter")
                {
                    return false;
                }
            }
            return Span(dom, "leader") == Invariant(currentLeader) && Span(dom, "self") == Invariant(viewer)
                && dom.Contains($"node {currentLeader} leads term", StringComparison.Ordinal)
                && dom.Contains("data-loaded=\"true\"", StringComparison.Ordinal);
        }, TimeSpan.FromMinutes(2), "the page showing every member as the status API reports it");

        // Kill a member other than the viewer; the page must show it unreachable and the others still serving.
        ulong killed = cluster.Members.Select(m => m.Id).First(id => id != viewer);
        cluster.Kill(killed);
        await cluster.WaitUntilAsync(async () =>
        {
            string dom = await HeadlessChromium.DumpDomAsync(chromium, url, TimeSpan.FromSeconds(5), screenshot: null, timeout.Token);
            Dictionary<ulong, Dictionary<string, string>> rows = Rows(dom);
            return rows.TryGetValue(killed, out var row) && row["role"] == "unreachable"
                && rows.Values.Count(r => r["role"] == "Leader") == 1 && rows[viewer]["role"] is "Leader" or "Follower";
        }, TimeSpan.FromMinutes(2), $"the page showing killed node {killed} as unreachable");
    }

    private static Dictionary<ulong, Dictionary<string, string>> Rows(string dom)
    {
        var rows = new Dictionary<ulong, Dictionary<string, string>>();
        foreach (Match row in RowPattern().Matches(dom))
        {
            rows[ulong.Parse(row.Groups["id"].Value, CultureInfo.InvariantCulture)] = CellPattern().Matches(row.Groups["cells"].Value)
                .ToDictionary(c => c.Groups["field"].Value, c => WebUtility.HtmlDecode(c.Groups["text"].Value));
        }
        return rows;
    }

    private static string? Span(string dom, string id) => Regex.Match(dom, $"<span id=\"{id}\">([^<]*)</span>") is { Success: true } m ? m.Groups[1].Value : null;

    private static string Invariant(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("<tr data-member-id=\"(?<id>\\d+)\"[^>]*>(?<cells>.*?)</tr>", RegexOptions.Singleline)]
    private static partial Regex RowPattern();

    [GeneratedRegex("<td data-field=\"(?<field>\\w+)\"[^>]*>(?<text>[^<]*)</td>")]
    private static partial Regex CellPattern();
}
