using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using RaftKv.Grains;

// An Orleans client of a RaftKv cluster. Start the cluster first (dotnet run --project Silo -- local-cluster), then:
//   dotnet run --project samples/RaftKv.Samples.OrleansClient [-- 127.0.0.1:30000,127.0.0.1:30001,127.0.0.1:30002]
// Against a cluster with TLS (local-cluster --tls), name the certificate directory: it needs ca.pem and the "admin"
// client certificate (client-admin.pem, client-admin-key.pem), see docs/security.md:
//   dotnet run --project samples/RaftKv.Samples.OrleansClient -- 127.0.0.1:30000,127.0.0.1:30001,127.0.0.1:30002 --tls .raftkv/certs
string? certificates = args.Length > 2 && args[1] == "--tls" ? args[2] : null;
IPEndPoint[] gateways = (args.Length > 0 ? args[0] : "127.0.0.1:30000,127.0.0.1:30001,127.0.0.1:30002")
    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
    .Select(IPEndPoint.Parse)
    .ToArray();

HostApplicationBuilder builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.UseOrleansClient(client =>
{
    client
        .UseStaticClustering(gateways)
        .Configure<ClusterOptions>(cluster => (cluster.ClusterId, cluster.ServiceId) = ("raftkv", "raftkv"));
    if (certificates is not null)
    {
        // The gateways require a client certificate from the cluster CA, and this client trusts only that CA.
        using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(Path.Combine(certificates, "client-admin.pem"), Path.Combine(certificates, "client-admin-key.pem"));
        X509Certificate2 clientCertificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        var authority = new X509Certificate2Collection();
        authority.ImportFromPemFile(Path.Combine(certificates, "ca.pem"));
        client.UseTls(clientCertificate, tls => tls.RemoteCertificateValidation = (certificate, _, _) =>
        {
            if (certificate is null) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        });
    }
});
using IHost host = builder.Build();
await host.StartAsync();
IClusterClient orleans = host.Services.GetRequiredService<IClusterClient>();
Console.WriteLine($"connected to {string.Join(", ", gateways.Select(g => g.ToString()))}");

// KV grains: one grain per key; reads are linearizable unless asked otherwise.
IKvGrain greeting = orleans.GetKvGrain("greeting");
KvWriteResult put = await greeting.PutAsync(Encoding.UTF8.GetBytes("hello from an Orleans client"));
Console.WriteLine($"put    greeting                      -> {put.Status}, create revision {put.CreateRevision}, mod revision {put.ModRevision}");
KvItem? item = await greeting.GetAsync();
Console.WriteLine($"get    greeting                      -> \"{Encoding.UTF8.GetString(item!.Value)}\" (mod revision {item.ModRevision})");
KvWriteResult swapped = await greeting.CompareRevisionAndSwapAsync(item.ModRevision, Encoding.UTF8.GetBytes("bonjour"));
Console.WriteLine($"cas    greeting at revision {item.ModRevision,-8} -> {swapped.Status}, mod revision {swapped.ModRevision}");
KvWriteResult stale = await greeting.CompareRevisionAndSwapAsync(item.ModRevision, Encoding.UTF8.GetBytes("hola"));
Console.WriteLine($"cas    greeting at revision {item.ModRevision,-8} -> {stale.Status} (current value \"{Encoding.UTF8.GetString(stale.CurrentValue ?? [])}\")");
KvItem? stored = await greeting.GetAsync(ReadConsistency.Stale);
Console.WriteLine($"get    greeting (stale read)         -> \"{Encoding.UTF8.GetString(stored!.Value)}\"");

// A session: the client owns the sequence numbers, so a retried write is applied once.
using RaftKvSession session = await orleans.OpenRaftKvSessionAsync();
ulong sequence = session.NextSequence();
KvWrite write = KvWrite.Put(Encoding.UTF8.GetBytes("visits"), Encoding.UTF8.GetBytes("1"));
KvWriteResult first = await session.WriteAsync(sequence, write);
KvWriteResult retried = await session.WriteAsync(sequence, write);
Console.WriteLine($"session {session.SessionId}: put visits twice as sequence {sequence} -> mod revision {first.ModRevision} then {retried.ModRevision} (applied once)");
KvWriteResult deleted = await session.DeleteAsync("visits");
KvItem? afterDelete = await session.GetAsync("visits");
Console.WriteLine($"delete visits                        -> {deleted.Status}; get -> {(afterDelete is null ? "absent" : "present")}");

await host.StopAsync();
