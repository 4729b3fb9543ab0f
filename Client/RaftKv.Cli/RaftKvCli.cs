using System.CommandLine;
using System.Globalization;
using System.Text;
using Grpc.Core;
using RaftKv.Client;
using RaftKv.Client.Security;
using Spectre.Console;

namespace RaftKv.Cli;

/// <summary>
/// The <c>raftkv</c> command line, on System.CommandLine (grammar, help, completion) and Spectre.Console (tables, live
/// status). Every command prints plain lines or a table for humans, or one JSON document per result with
/// <c>--output json</c>; the exit codes below are a contract for scripts.
/// </summary>
public static class RaftKvCli
{
    public const int ExitOk = 0;
    public const int ExitNotFoundOrCasFailed = 1;
    public const int ExitUsage = 2;
    public const int ExitUnavailable = 3;
    public const int ExitInvalidArgument = 4;
    public const int ExitOtherError = 5;

    public const string EndpointsVariable = "RAFTKV_ENDPOINTS";
    public const string TokenVariable = "RAFTKV_TOKEN";
    public const string DefaultEndpoints = "http://127.0.0.1:7101,http://127.0.0.1:7102,http://127.0.0.1:7103";

    public const string ExitCodesHelp = """
        Exit codes:
          0  success
          1  key not found (get, del) or compare-and-swap failed (cas)
          2  usage error
          3  cluster unavailable (no leader, unreachable, timed out)
          4  invalid argument (empty or oversized key or value, a damaged snapshot file, a non-empty --data-dir, ...)
          5  any other error (including an expired session, or a membership change the cluster refused)
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, string? endpointsFromEnvironment,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var cli = new CliContext(output, error, endpointsFromEnvironment);
        RootCommand root = CliCommands.Build(cli);
        ParseResult parsed = root.Parse(args);
        var invocation = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        if (parsed.Errors.Count > 0 && parsed.Action is null or System.CommandLine.Invocation.ParseErrorAction)
        {
            foreach (var parseError in parsed.Errors) await error.WriteLineAsync($"raftkv: {parseError.Message}").ConfigureAwait(false);
            await error.WriteLineAsync("Run 'raftkv --help' for usage.").ConfigureAwait(false);
            return ExitUsage;
        }
        try
        {
            return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
        }
        catch (UsageException usage)
        {
            await error.WriteLineAsync($"raftkv: {usage.Message}\nRun 'raftkv --help' for usage.").ConfigureAwait(false);
            return ExitUsage;
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
}

/// <summary>A command-line mistake found after parsing (e.g. options that exclude each other): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Where a command writes, and how it reaches the cluster.</summary>
internal sealed class CliContext(TextWriter output, TextWriter error, string? endpointsFromEnvironment)
{
    public TextWriter Output { get; } = output;
    public TextWriter Error { get; } = error;

    /// <summary>Spectre's console over <see cref="Output"/>: colours and live redraws only when that is a terminal.</summary>
    public IAnsiConsole Console { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(output),
        Ansi = ReferenceEquals(output, System.Console.Out) ? AnsiSupport.Detect : AnsiSupport.No,
        ColorSystem = ReferenceEquals(output, System.Console.Out) ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        Interactive = ReferenceEquals(output, System.Console.Out) ? InteractionSupport.Detect : InteractionSupport.No,
    });

    /// <summary>A client for the cluster the command line names, with its credentials (--cacert, --cert/--key, --token).</summary>
    public RaftKvClient Connect(ParseResult parse)
    {
        string? endpoints = parse.GetValue(CliCommands.Endpoints);
        string list = endpoints ?? (string.IsNullOrWhiteSpace(endpointsFromEnvironment) ? RaftKvCli.DefaultEndpoints : endpointsFromEnvironment);
        var options = new RaftKvClientOptions
        {
            Endpoints = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            MaxAttempts = 4,
            AttemptTimeoutMs = 3_000,
            BearerToken = NonEmpty(parse.GetValue(CliCommands.Token)) ?? NonEmpty(Environment.GetEnvironmentVariable(RaftKvCli.TokenVariable)),
        };
        if ((parse.GetValue(CliCommands.CertificateFile) is null) != (parse.GetValue(CliCommands.KeyFile) is null))
        {
            throw new UsageException("--cert and --key go together");
        }
        try
        {
            if (parse.GetValue(CliCommands.CaFile) is { } caFile) options.TrustedCertificateAuthorities = RaftKvCertificates.LoadAuthorities(caFile);
            if (parse.GetValue(CliCommands.CertificateFile) is { } certificate)
            {
                options.ClientCertificate = RaftKvCertificates.LoadCertificate(certificate, parse.GetValue(CliCommands.KeyFile)!);
            }
        }
        catch (InvalidDataException e)
        {
            throw new UsageException(e.Message);
        }
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0) throw new UsageException(string.Join(" ", errors));
        return new RaftKvClient(options);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    public static string Invariant(ulong value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
