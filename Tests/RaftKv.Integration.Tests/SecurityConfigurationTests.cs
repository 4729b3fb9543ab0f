using RaftKv.Client.Security;
using RaftKv.Silo;
using RaftKv.Silo.Security;

namespace RaftKv.Integration.Tests;

/// <summary>Security and limit settings are checked at start, with messages that name the setting; nothing starts on a bad one.</summary>
public sealed class SecurityConfigurationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "raftkv-seccfg-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private string[] Node(string scheme, params string[] extra) =>
    [
        "--RaftKv:NodeId=1", $"--RaftKv:DataDirectory={Path.Combine(_directory, "data")}",
        "--RaftKv:Members:0:Id=1", $"--RaftKv:Members:0:PeerAddress={scheme}://127.0.0.1:1", $"--RaftKv:Members:0:ClientAddress={scheme}://127.0.0.1:2",
        .. extra,
    ];

    private static string BuildError(string[] args) => Assert.Throws<OptionsException>(() => SiloHost.Build(args)).Message;

    [Fact]
    public void Client_tokens_without_tls_are_refused()
    {
        string error = BuildError(Node("http", "--RaftKv:Security:ClientTokens:0=secret"));
        Assert.Contains("needs TLS", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Https_members_without_tls_and_http_members_with_tls_are_refused()
    {
        Assert.Contains("is https:// but TLS is not configured", BuildError(Node("https")), StringComparison.Ordinal);
        DevelopmentCertificates.CreateDirectory(_directory, 2, ["127.0.0.1"], [], TimeSpan.FromDays(1));
        string error = BuildError(Node("http", LocalCluster.TlsArguments(_directory, 1, null).ToArray()));
        Assert.Contains("must be https://", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_files_and_a_certificate_for_another_node_are_refused()
    {
        string missing = BuildError(Node("https", "--RaftKv:Security:CertificateFile=/nonexistent/node1.pem"));
        Assert.Contains("CertificateFile, KeyFile and CaFile must be set together", missing, StringComparison.Ordinal);
        Assert.Contains("'/nonexistent/node1.pem' does not exist", missing, StringComparison.Ordinal);

        DevelopmentCertificates.CreateDirectory(_directory, 2, ["127.0.0.1"], [], TimeSpan.FromDays(1));
        string[] nodeTwosCertificate =
        [
            $"--RaftKv:Security:CertificateFile={DevelopmentCertificates.NodeCertificateFile(_directory, 2)}",
            $"--RaftKv:Security:KeyFile={DevelopmentCertificates.NodeKeyFile(_directory, 2)}",
            $"--RaftKv:Security:CaFile={DevelopmentCertificates.CaFile(_directory)}",
        ];
        Assert.Contains("does not name this node", BuildError(Node("https", nodeTwosCertificate)), StringComparison.Ordinal);
    }

    [Fact]
    public void Limits_below_their_minimums_are_refused()
    {
        string error = BuildError(Node("http", "--RaftKv:Limits:PeerMaxReceiveMessageBytes=1024", "--RaftKv:Limits:MaxConcurrentStreamsPerConnection=0",
            "--RaftKv:Limits:MaxRequestDeadlineMs=-1"));
        Assert.Contains("RaftKv:Limits:PeerMaxReceiveMessageBytes must be at least", error, StringComparison.Ordinal);
        Assert.Contains("RaftKv:Limits:MaxConcurrentStreamsPerConnection", error, StringComparison.Ordinal);
        Assert.Contains("RaftKv:Limits:MaxRequestDeadlineMs", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("20000m", 20_000L)]
    [InlineData("5S", 5_000L)]
    [InlineData("2M", 120_000L)]
    [InlineData("1H", 3_600_000L)]
    [InlineData("1500u", 2L)]
    [InlineData("1n", 1L)]
    [InlineData("", null)]
    [InlineData("m", null)]
    [InlineData("123456789m", null)]
    [InlineData("10x", null)]
    [InlineData("-5m", null)]
    public void Grpc_timeouts_parse_to_milliseconds_rounded_up(string header, long? expected) =>
        Assert.Equal(expected, SiloSecurity.ParseGrpcTimeoutMs(header));
}
