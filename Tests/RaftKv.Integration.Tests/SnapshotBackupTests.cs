using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Orleans.Runtime;
using RaftKv.Cli;
using RaftKv.Grains.Membership;
using RaftKv.Client;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage.Snapshots;
using RaftKv.TestingHost;

namespace RaftKv.Integration.Tests;

/// <summary>
/// Backups with real processes: <c>raftkv snapshot save</c> against a running cluster of silo processes, <c>raftkv
/// snapshot restore</c> into a fresh cluster's data directories, and every key, value and revision compared after
/// that cluster starts. Damaged backups are refused and write nothing.
/// </summary>
[Collection("silo processes")]
public sealed partial class SnapshotBackupTests
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task A_snapshot_saved_from_a_live_cluster_restores_into_a_fresh_cluster_with_every_key_value_and_revision()
    {
        string work = Directory.CreateTempSubdirectory("raftkv-backup-").FullName;
        try
        {
            string backup = Path.Combine(work, "backup.snap");
            List<KvItem> expected;
            ulong snapshotIndex;
            // Both clusters keep Orleans' membership table in the store (RaftKv clustering, the default): the backup
            // carries the old cluster's table, and the restored cluster's silos must still join. Every other key is
            // this test's and is compared exactly.
            await using (var source = new SiloProcessCluster())
            {
                await source.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
                await using RaftKvClient client = source.NewClient();
                for (int i = 0; i < 120; i++) await client.PutAsync($"key/{i:D3}", $"v1-{i}");
                // Updates (mod revision moves, create revision stays), deletes, a re-creation and compare-and-swaps, so
                // revisions differ from key to key and a restore that renumbered anything would show.
                for (int i = 0; i < 120; i += 3) await client.PutAsync($"key/{i:D3}", $"v2-{i}");
                for (int i = 1; i < 120; i += 7) Assert.True((await client.DeleteAsync($"key/{i:D3}")).Deleted);
                await client.PutAsync("key/001", "re-created");
                Assert.True((await client.CompareAndSwapAsync("key/002", CasExpectation.Value(Encoding.UTF8.GetBytes("v1-2")), "swapped")).Succeeded);
                await client.PutAsync(new byte[] { 0x00, 0xFF, 0x10 }, new byte[] { 0xDE, 0xAD, 0xBE, 0xEF, 0x00 });
                await client.PutAsync("big", new string('x', 100_000));

                (int exit, string output, string error) = await RunCliAsync(["--endpoints", string.Join(",", source.ClientAddresses), "snapshot", "save", backup]);
                Assert.True(exit == 0, $"snapshot save exited {exit}: {output} {error}");
                Match saved = SavedLine().Match(output);
                Assert.True(saved.Success, output);
                snapshotIndex = ulong.Parse(saved.Groups["index"].Value, CultureInfo.InvariantCulture);
                Assert.Empty(Directory.GetFiles(work, "*.tmp", SearchOption.AllDirectories));

                expected = [.. (await client.ScanAsync("", limit: 10_000)).Where(i => !IsOrleansKey(i))];
                Assert.Equal(120 - 17 + 1 + 2, expected.Count); // 17 deleted, one of them re-created, two more keys
                // Nothing was written after the save, so the backup must reflect at least every revision in the store.
                Assert.True(expected.Max(e => e.ModRevision) <= snapshotIndex, $"snapshot index {snapshotIndex} is below a revision it must contain");
            }

            await using var restored = new SiloProcessCluster(start: false);
            string members = string.Join(",", restored.Members.Select(m => m.Id));
            foreach (var member in restored.Members)
            {
                (int exit, string output, string error) = await RunCliAsync(
                    ["snapshot", "restore", backup, "--data-dir", restored.DataDirectory(member.Id), "--node-id", $"{member.Id}", "--members", members]);
                Assert.True(exit == 0, $"snapshot restore exited {exit}: {output} {error}");
                Assert.Contains($"index={snapshotIndex}", output, StringComparison.Ordinal);
            }
            foreach (var member in restored.Members) restored.Start(member.Id);
            await restored.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
            await using RaftKvClient restoredClient = restored.NewClient();

            // Orleans' table (under the reserved __orleans/ prefix) changes as silos come and go; everything else must
            // be exactly the backup.
            List<KvItem> actual = [.. (await restoredClient.ScanAsync("", limit: 10_000)).Where(i => !IsOrleansKey(i))];
            Assert.Equal(expected.Count, actual.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Key, actual[i].Key);
                Assert.Equal(expected[i].Value, actual[i].Value);
                Assert.Equal(expected[i].CreateRevision, actual[i].CreateRevision);
                Assert.Equal(expected[i].ModRevision, actual[i].ModRevision);
            }
            // Every member holds the snapshot, not only the leader: stale reads from each node see the restored keys.
            foreach (var member in restored.Members)
            {
                await using RaftKvClient one = restored.NewClient(member.Id);
                await restored.WaitUntilAsync(async () => (await one.GetAsync("key/002", ReadConsistency.Stale))?.ModRevision == expected.Single(e => Encoding.UTF8.GetString(e.Key) == "key/002").ModRevision,
                    TimeSpan.FromSeconds(30), $"node {member.Id} serving the restored key/002");
            }
            // The restored table still lists the old cluster's silos; the new silos join all the same, and the old
            // ones, which never answer, are declared dead.
            await using var table = new RaftKvMembershipTable(new RaftKvClusteringOptions { Endpoints = [.. restored.ClientAddresses] }, "raftkv");
            await restored.WaitUntilAsync(async () =>
            {
                MembershipTableData data = await table.ReadAll();
                var active = data.Members.Where(m => m.Item1.Status == SiloStatus.Active).Select(m => m.Item1.ProxyPort).Order().ToList();
                return active.SequenceEqual(restored.OrleansGateways.Select(g => g.Port).Order());
            }, TimeSpan.FromSeconds(120), "the restored cluster's three silos Active in the restored Orleans table, and only them");

            // The revision counter continues after the snapshot: a new write never reuses a restored revision.
            PutResult after = await restoredClient.PutAsync("key/000", "after-restore");
            Assert.True(after.ModRevision > snapshotIndex, $"new write got revision {after.ModRevision}, not above the snapshot's {snapshotIndex}");
            Assert.Equal(expected.Single(e => Encoding.UTF8.GetString(e.Key) == "key/000").CreateRevision, after.CreateRevision);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Damaged_or_truncated_snapshot_files_are_refused_with_a_clear_error_and_write_nothing()
    {
        string work = Directory.CreateTempSubdirectory("raftkv-backup-").FullName;
        try
        {
            string good = Path.Combine(work, "good.snap");
            WriteSnapshotFile(Path.Combine(work, "source"), good);
            byte[] bytes = await File.ReadAllBytesAsync(good);
            SnapshotFileInfo info = SnapshotFile.Verify(good);

            var damaged = new Dictionary<string, byte[]>
            {
                ["empty"] = [],
                ["not a snapshot"] = Encoding.UTF8.GetBytes("this is not a RaftKv snapshot, just some text long enough to have a trailer"),
                ["truncated to half"] = bytes[..(bytes.Length / 2)],
                ["missing its last byte"] = bytes[..^1],
                ["one bit flipped in the data"] = Flip(bytes, (int)info.DataOffset + (int)(info.DataLengthBytes / 2)),
                ["one bit flipped in the header"] = Flip(bytes, 9),
                ["one bit flipped in the trailer"] = Flip(bytes, bytes.Length - 6),
                // Every file checksum recomputed over changed data: only the state machine's own SHA-256 can tell.
                ["forged with valid file checksums"] = Reframe(bytes, info, data => Flip(data, data.Length / 2)),
                ["forged with its data cut short"] = Reframe(bytes, info, data => data[..^40]),
            };
            foreach ((string what, byte[] content) in damaged)
            {
                string file = Path.Combine(work, "damaged.snap");
                await File.WriteAllBytesAsync(file, content);
                string dataDirectory = Path.Combine(work, "node-" + what.Replace(' ', '-'));
                (int exit, string output, string error) = await RunCliInProcessAsync(
                    ["snapshot", "restore", file, "--data-dir", dataDirectory, "--node-id", "1", "--members", "1,2,3"]);
                Assert.True(exit == RaftKvCli.ExitInvalidArgument, $"{what}: exit {exit}, output '{output}', error '{error}'");
                Assert.Contains("is not a usable RaftKv snapshot, nothing was restored", error, StringComparison.Ordinal);
                Assert.False(Directory.Exists(Path.Combine(dataDirectory, "raft")), $"{what}: restore wrote a raft directory");
            }

            // The intact file restores, and a second restore into the same (now populated) directory is refused.
            string node = Path.Combine(work, "node-ok");
            string[] restore = ["snapshot", "restore", good, "--data-dir", node, "--node-id", "2", "--members", "1,2,3"];
            (int okExit, string okOutput, string okError) = await RunCliInProcessAsync(restore);
            Assert.True(okExit == 0, $"{okOutput} {okError}");
            Assert.Contains($"index={info.Metadata.Index}", okOutput, StringComparison.Ordinal);
            Assert.Contains("keys=3", okOutput, StringComparison.Ordinal);
            string[] before = Directory.GetFiles(node, "*", SearchOption.AllDirectories).Order().ToArray();
            (int againExit, _, string againError) = await RunCliInProcessAsync(restore);
            Assert.Equal(RaftKvCli.ExitInvalidArgument, againExit);
            Assert.Contains("already holds a node's data", againError, StringComparison.Ordinal);
            Assert.Equal(before, Directory.GetFiles(node, "*", SearchOption.AllDirectories).Order().ToArray());

            // Usage errors name what is missing.
            (int usageExit, _, string usageError) = await RunCliInProcessAsync(["snapshot", "restore", good, "--data-dir", node, "--members", "1,2,3"]);
            Assert.Equal(RaftKvCli.ExitUsage, usageExit);
            Assert.Contains("--node-id", usageError, StringComparison.Ordinal);
            (usageExit, _, usageError) = await RunCliInProcessAsync(["snapshot", "restore", good, "--data-dir", node, "--node-id", "4", "--members", "1,2,3"]);
            Assert.Equal(RaftKvCli.ExitUsage, usageExit);
            Assert.Contains("is not one of --members", usageError, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static bool IsOrleansKey(KvItem item) => Encoding.UTF8.GetString(item.Key).StartsWith("__orleans/", StringComparison.Ordinal);

    /// <summary>A real snapshot file: a FASTER state machine with three keys, captured and framed as the gateway does.</summary>
    private static void WriteSnapshotFile(string directory, string file)
    {
        using FasterKvStateMachine machine = FasterKvStateMachine.Open(directory, new StateMachineOptions());
        ulong index = 0;
        void Apply(KvCommand command) => machine.Apply(new LogEntry(++index, 1, EntryType.Command, command.Encode()));
        Apply(KvCommand.RegisterSession(1_000));
        Apply(KvCommand.Put(1, 1, 1_000, "a"u8.ToArray(), "1"u8.ToArray()));
        Apply(KvCommand.Put(1, 2, 1_000, "b"u8.ToArray(), "2"u8.ToArray()));
        Apply(KvCommand.Put(1, 3, 1_000, "c"u8.ToArray(), new byte[5000]));
        using IStateMachineSnapshot image = machine.TakeSnapshot();
        using FileStream output = File.Create(file);
        var encoder = new SnapshotFileEncoder(output, new SnapshotMetadata(index, 1, new ClusterConfiguration([1])));
        image.WriteTo(encoder);
        encoder.Finish();
    }

    private static byte[] Flip(byte[] bytes, int offset)
    {
        byte[] copy = [.. bytes];
        copy[offset] ^= 0x10;
        return copy;
    }

    /// <summary>The same metadata around changed data, with every file checksum valid.</summary>
    private static byte[] Reframe(byte[] bytes, SnapshotFileInfo info, Func<byte[], byte[]> change)
    {
        byte[] data = change(bytes[(int)info.DataOffset..(int)(info.DataOffset + info.DataLengthBytes)]);
        using var output = new MemoryStream();
        var encoder = new SnapshotFileEncoder(output, info.Metadata);
        encoder.Write(data);
        encoder.Finish();
        return output.ToArray();
    }

    private static async Task<(int Exit, string Output, string Error)> RunCliInProcessAsync(string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await RaftKvCli.RunAsync(args, output, error, endpointsFromEnvironment: null, CancellationToken.None);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The raftkv command line as its own process, as an operator runs it.</summary>
    private static async Task<(int Exit, string Output, string Error)> RunCliAsync(string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(RaftKvCli).Assembly.Location);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start raftkv");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(ProcessTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"raftkv {string.Join(" ", args)} did not exit within {ProcessTimeout}");
        }
        return (process.ExitCode, await output, await error);
    }

    [GeneratedRegex(@"^OK saved .* index=(?<index>\d+) term=\d+ keys=\d+ bytes=\d+ crc32c=0x[0-9a-f]{8}", RegexOptions.Multiline)]
    private static partial Regex SavedLine();
}
