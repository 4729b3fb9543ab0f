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

    // Credentials (any command that talks to a cluster).
    public string? CaFile { get; init; }
    public string? CertificateFile { get; init; }
    public string? KeyFile { get; init; }
    public string? Token { get; init; }

    // certs create
    public int Nodes { get; init; } = 3;
    public string? OutputDirectory { get; init; }
    public IReadOnlyList<string> Hosts { get; init; } = ["127.0.0.1", "localhost"];
    public IReadOnlyList<string> Clients { get; init; } = ["admin"];
    public int Days { get; init; } = 365;

    public static bool TryParse(string[] args, [NotNullWhen(true)] out CommandLine? command, out string error)
    {
        command = null;
        var positional = new List<string>();
        string? endpoints = null;
        bool help = false, stale = false, all = false, expectAbsent = false;
        ulong? expectRevision = null;
        int? limit = null;
        string? caFile = null, certificateFile = null, keyFile = null, token = null, outputDirectory = null;
        int? nodes = null, days = null;
        IReadOnlyList<string>? hosts = null, clients = null;
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
                case "--cacert" or "--cert" or "--key" or "--token" or "--out":
                    string? text = Value();
                    if (string.IsNullOrWhiteSpace(text)) { error = $"{arg} needs a value"; return false; }
                    switch (arg)
                    {
                        case "--cacert": caFile = text; break;
                        case "--cert": certificateFile = text; break;
                        case "--key": keyFile = text; break;
                        case "--token": token = text; break;
                        default: outputDirectory = text; break;
                    }
                    break;
                case "--nodes" or "--days":
                    if (!int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count < 1 || (arg == "--nodes" && count > 99))
                    {
                        error = arg == "--nodes" ? "--nodes needs an integer from 1 to 99" : "--days needs a positive integer";
                        return false;
                    }
                    if (arg == "--nodes") nodes = count; else days = count;
                    break;
                case "--hosts" or "--clients":
                    string[] list = (Value() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    if (arg == "--hosts" && list.Length == 0) { error = "--hosts needs a comma-separated list of DNS names or IP addresses"; return false; }
                    if (arg == "--hosts") hosts = list; else clients = list;
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
            "certs" when rest.Count > 0 && rest[0] == "create" => (1, "certs create --out DIR [--nodes 3] [--hosts 127.0.0.1,localhost] [--clients admin] [--days 365]"),
            "certs" => (-1, "usage: raftkv certs create --out DIR [--nodes 3] [--hosts 127.0.0.1,localhost] [--clients admin] [--days 365]"),
            _ => (-2, $"unknown command '{name}'"),
        };
        if (expected < 0) { error = usage; return false; }
        if (rest.Count != expected) { error = $"usage: raftkv {usage}"; return false; }
        if (stale && name != "get") { error = "--stale applies to get only"; return false; }
        if (all && name != "status") { error = "--all applies to status only"; return false; }
        if (limit is not null && name != "scan") { error = "--limit applies to scan only"; return false; }
        if (casWithFlag && name != "cas") { error = "--expect-absent and --expect-revision apply to cas only"; return false; }
        bool certsOptions = outputDirectory is not null || nodes is not null || days is not null || hosts is not null || clients is not null;
        if (certsOptions && name != "certs") { error = "--out, --nodes, --hosts, --clients and --days apply to certs create only"; return false; }
        if (name == "certs" && outputDirectory is null) { error = "certs create needs --out DIR"; return false; }
        if ((certificateFile is null) != (keyFile is null)) { error = "--cert and --key go together"; return false; }
        command = new CommandLine
        {
            Name = name, Positional = rest, Endpoints = endpoints, Stale = stale, All = all, ExpectAbsent = expectAbsent,
            ExpectRevision = expectRevision, Limit = limit,
            CaFile = caFile, CertificateFile = certificateFile, KeyFile = keyFile, Token = token,
            Nodes = nodes ?? 3, OutputDirectory = outputDirectory, Days = days ?? 365,
            Hosts = hosts ?? ["127.0.0.1", "localhost"], Clients = clients ?? ["admin"],
        };
        error = "";
        return true;
    }
}
