using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace RaftKv.Cli;

/// <summary>A parsed <c>raftkv</c> invocation. Parsing reports usage errors as values, never exceptions.</summary>
public sealed record CommandLine
{
    public string Name { get; init; } = "";
    public IReadOnlyList<string> Positional { get; init; } = [];
    public string? Endpoints { get; init; }
    public bool Help { get; init; }
    public bool Stale { get; init; }
    public bool All { get; init; }
    public bool ExpectAbsent { get; init; }
    public ulong? ExpectRevision { get; init; }
    public int? Limit { get; init; }
    public string? DataDirectory { get; init; }
    public ulong? NodeId { get; init; }
    public IReadOnlyList<ulong>? Members { get; init; }

    public static bool TryParse(string[] args, [NotNullWhen(true)] out CommandLine? command, out string error)
    {
        command = null;
        var positional = new List<string>();
        string? endpoints = null;
        bool help = false, stale = false, all = false, expectAbsent = false;
        ulong? expectRevision = null;
        int? limit = null;
        string? dataDirectory = null;
        ulong? nodeId = null;
        List<ulong>? members = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? inlineValue = null;
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
            {
                inlineValue = arg[(eq + 1)..];
                arg = arg[..eq];
            }
            string? Value()
            {
                if (inlineValue is not null) return inlineValue;
                return i + 1 < args.Length ? args[++i] : null;
            }
            switch (arg)
            {
                case "-h" or "--help": help = true; break;
                case "--stale": stale = true; break;
                case "--all": all = true; break;
                case "--expect-absent": expectAbsent = true; break;
                case "--endpoints":
                    endpoints = Value();
                    if (string.IsNullOrWhiteSpace(endpoints)) { error = "--endpoints needs a comma-separated list of addresses"; return false; }
                    break;
                case "--expect-revision":
                    if (!ulong.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong revision))
                    {
                        error = "--expect-revision needs a non-negative integer";
                        return false;
                    }
                    expectRevision = revision;
                    break;
                case "--limit":
                    if (!int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int parsedLimit) || parsedLimit < 1)
                    {
                        error = "--limit needs a positive integer";
                        return false;
                    }
                    limit = parsedLimit;
                    break;
                case "--data-dir":
                    dataDirectory = Value();
                    if (string.IsNullOrWhiteSpace(dataDirectory)) { error = "--data-dir needs a directory"; return false; }
                    break;
                case "--node-id":
                    if (!ulong.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong parsedNodeId) || parsedNodeId == 0)
                    {
                        error = "--node-id needs a positive integer";
                        return false;
                    }
                    nodeId = parsedNodeId;
                    break;
                case "--members":
                    members = [];
                    foreach (string id in (Value() ?? "").Split(',', StringSplitOptions.TrimEntries))
                    {
                        if (!ulong.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out ulong member) || member == 0 || members.Contains(member))
                        {
                            error = "--members needs a comma-separated list of distinct positive member ids, e.g. 1,2,3";
                            return false;
                        }
                        members.Add(member);
                    }
                    break;
                case "--":
                    positional.AddRange(args[(i + 1)..]);
                    i = args.Length;
                    break;
                default:
                    if (arg.StartsWith("--", StringComparison.Ordinal)) { error = $"unknown option {arg}"; return false; }
                    positional.Add(args[i]);
                    break;
            }
        }
        if (help)
        {
            command = new CommandLine { Help = true };
            error = "";
            return true;
        }
        if (positional.Count == 0) { error = "no command given"; return false; }
        string name = positional[0];
        var rest = positional.Skip(1).ToList();
        bool casWithFlag = expectAbsent || expectRevision is not null;
        (int expected, string usage) = name switch
        {
            "put" => (2, "put KEY VALUE"),
            "get" => (1, "get KEY [--stale]"),
            "del" => (1, "del KEY"),
            "cas" when expectAbsent && expectRevision is not null => (-1, "use only one of --expect-absent and --expect-revision"),
            "cas" when casWithFlag => (2, "cas KEY NEW --expect-absent | --expect-revision N"),
            "cas" => (3, "cas KEY EXPECTED NEW"),
            "scan" => (1, "scan PREFIX [--limit N]"),
            "status" => (0, "status [--all]"),
            "snapshot" when rest.FirstOrDefault() == "save" => (2, "snapshot save FILE"),
            "snapshot" when rest.FirstOrDefault() == "restore" => (2, "snapshot restore FILE --data-dir DIR --node-id N --members ID,ID,..."),
            "snapshot" => (-1, "usage: raftkv snapshot save FILE | raftkv snapshot restore FILE --data-dir DIR --node-id N --members ID,ID,..."),
            _ => (-2, $"unknown command '{name}'"),
        };
        if (expected < 0) { error = usage; return false; }
        if (rest.Count != expected) { error = $"usage: raftkv {usage}"; return false; }
        if (stale && name != "get") { error = "--stale applies to get only"; return false; }
        if (all && name != "status") { error = "--all applies to status only"; return false; }
        if (limit is not null && name != "scan") { error = "--limit applies to scan only"; return false; }
        if (casWithFlag && name != "cas") { error = "--expect-absent and --expect-revision apply to cas only"; return false; }
        bool restore = name == "snapshot" && rest[0] == "restore";
        if (!restore && (dataDirectory is not null || nodeId is not null || members is not null))
        {
            error = "--data-dir, --node-id and --members apply to snapshot restore only";
            return false;
        }
        if (restore && (dataDirectory is null || nodeId is null || members is null))
        {
            error = "snapshot restore needs --data-dir, --node-id and --members";
            return false;
        }
        if (restore && !members!.Contains(nodeId!.Value))
        {
            error = $"--node-id {nodeId} is not one of --members {string.Join(",", members)}";
            return false;
        }
        command = new CommandLine
        {
            DataDirectory = dataDirectory, NodeId = nodeId, Members = members,
            Name = name, Positional = rest, Endpoints = endpoints, Stale = stale, All = all, ExpectAbsent = expectAbsent,
            ExpectRevision = expectRevision, Limit = limit,
        };
        error = "";
        return true;
    }
}
