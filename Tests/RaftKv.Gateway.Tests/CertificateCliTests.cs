using System.Security.Cryptography.X509Certificates;
using RaftKv.Cli;
using RaftKv.Client;
using RaftKv.Client.Security;

namespace RaftKv.Gateway.Tests;

/// <summary><c>raftkv certs create</c>, the client's credential options, and how certificates are read and checked.</summary>
public sealed class CertificateCliTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "raftkv-certs-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await RaftKvCli.RunAsync(args, output, error, endpointsFromEnvironment: null, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Certs_create_writes_a_ca_and_node_and_client_certificates_that_name_their_owners()
    {
        var (exit, output, error) = await RunAsync("certs", "create", "--out", _directory, "--nodes", "2", "--hosts", "127.0.0.1,db.example", "--clients", "admin,app");
        Assert.True(exit == 0, error);
        Assert.Contains(DevelopmentCertificates.NodeKeyFile(_directory, 2), output, StringComparison.Ordinal);

        X509Certificate2Collection ca = RaftKvCertificates.LoadAuthorities(DevelopmentCertificates.CaFile(_directory));
        for (ulong id = 1; id <= 2; id++)
        {
            using X509Certificate2 node = RaftKvCertificates.LoadCertificate(DevelopmentCertificates.NodeCertificateFile(_directory, id), DevelopmentCertificates.NodeKeyFile(_directory, id));
            Assert.True(node.HasPrivateKey);
            Assert.Equal([id], RaftKvCertificates.NodeIds(node));
            Assert.True(RaftKvCertificates.ChainsTo(node, ca, out string chainError), chainError);
            Assert.True(node.MatchesHostname("db.example"));
            Assert.True(node.MatchesHostname("127.0.0.1"));
        }
        Assert.False(File.Exists(DevelopmentCertificates.NodeCertificateFile(_directory, 3)));
        using X509Certificate2 app = RaftKvCertificates.LoadCertificate(DevelopmentCertificates.ClientCertificateFile(_directory, "app"), DevelopmentCertificates.ClientKeyFile(_directory, "app"));
        Assert.Empty(RaftKvCertificates.NodeIds(app));
        Assert.Contains("raftkv://client/app", RaftKvCertificates.SubjectAlternativeUris(app));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(DevelopmentCertificates.NodeKeyFile(_directory, 1)));
        }

        // Never overwrites: a second run fails and leaves the first CA in place.
        string before = File.ReadAllText(DevelopmentCertificates.CaFile(_directory));
        var again = await RunAsync("certs", "create", "--out", _directory);
        Assert.Equal(RaftKvCli.ExitOtherError, again.Exit);
        Assert.Contains("refusing to overwrite", again.Error, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllText(DevelopmentCertificates.CaFile(_directory)));
    }

    [Fact]
    public void A_certificate_from_another_ca_does_not_chain_to_the_cluster_ca()
    {
        using X509Certificate2 clusterCa = DevelopmentCertificates.CreateAuthority("cluster", TimeSpan.FromDays(1));
        using X509Certificate2 otherCa = DevelopmentCertificates.CreateAuthority("other", TimeSpan.FromDays(1));
        using X509Certificate2 foreign = DevelopmentCertificates.IssueNode(otherCa, 1, ["127.0.0.1"], TimeSpan.FromDays(1));
        using X509Certificate2 own = DevelopmentCertificates.IssueNode(clusterCa, 1, ["127.0.0.1"], TimeSpan.FromDays(1));
        using X509Certificate2 clusterCaPublic = X509CertificateLoader.LoadCertificate(clusterCa.RawData);
        var trusted = new X509Certificate2Collection(clusterCaPublic);
        Assert.False(RaftKvCertificates.ChainsTo(foreign, trusted, out string error));
        Assert.NotEmpty(error);
        Assert.True(RaftKvCertificates.ChainsTo(own, trusted, out _));
        Assert.Equal([1UL], RaftKvCertificates.NodeIds(foreign)); // naming a member is not enough without the chain
    }

    [Theory]
    [InlineData(new[] { "certs" }, "certs create")]
    [InlineData(new[] { "certs", "create" }, "--out")]
    [InlineData(new[] { "certs", "create", "--out", "x", "--nodes", "0" }, "--nodes")]
    [InlineData(new[] { "get", "k", "--nodes", "3" }, "--nodes")]
    [InlineData(new[] { "get", "k", "--cert", "c.pem" }, "--cert and --key go together")]
    public async Task Bad_certs_and_credential_arguments_are_usage_errors(string[] args, string expected)
    {
        var (exit, _, error) = await RunAsync(args);
        Assert.Equal(RaftKvCli.ExitUsage, exit);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_ca_file_is_a_clear_usage_error()
    {
        var (exit, _, error) = await RunAsync("--endpoints", "https://127.0.0.1:1", "--cacert", Path.Combine(_directory, "missing.pem"), "get", "k");
        Assert.Equal(RaftKvCli.ExitUsage, exit);
        Assert.Contains("missing.pem", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bearer_token_needs_https_endpoints_and_tls_settings_do_not_mix_with_a_shared_handler()
    {
        var cleartext = new RaftKvClientOptions { Endpoints = ["http://127.0.0.1:7101"], BearerToken = "secret" };
        Assert.Contains(cleartext.Validate(), e => e.Contains("BearerToken needs https://", StringComparison.Ordinal));
        var tls = new RaftKvClientOptions { Endpoints = ["https://127.0.0.1:7101"], BearerToken = "secret" };
        Assert.Empty(tls.Validate());
        using var handler = new SocketsHttpHandler();
        var shared = new RaftKvClientOptions { Endpoints = ["https://127.0.0.1:7101"], SharedHttpHandler = handler, TrustedCertificateAuthorities = [] };
        Assert.Contains(shared.Validate(), e => e.Contains("SharedHttpHandler", StringComparison.Ordinal));
    }
}
