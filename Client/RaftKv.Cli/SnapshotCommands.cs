using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using RaftKv.Client;
using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Snapshots;
using RaftKv.Storage.Wal;

namespace RaftKv.Cli;

/// <summary>
/// <c>raftkv snapshot save</c> (a consistent backup from the leader, written atomically) and <c>raftkv snapshot
/// restore</c> (seeds one member's data directory of a NEW cluster from a backup, offline, like
/// <c>etcdutl snapshot restore</c>). A backup is a file in the snapshot store's own format (docs/wal-format.md), so
/// both ends check it with the store's own verifier and the state machine's own parser: a damaged file is refused
/// before anything is written.
/// </summary>
internal static class SnapshotCommands
{
    public static Command Build(CliContext cli)
    {
        var saveFile = new Argument<string>("FILE") { Description = "where to write the backup (a temp file beside it is renamed over it once verified)" };
        var save = new Command("save", "stream a consistent snapshot from the leader into FILE (checksum verified, written atomically)") { saveFile };
        save.SetAction(async (parse, cancellation) =>
        {
            await using RaftKvClient client = cli.Connect(parse);
            string file = parse.GetValue(saveFile)!;
            if (!cli.Console.Profile.Capabilities.Interactive) return await SaveAsync(client, file, cli.Output, cli.Error, cancellation).ConfigureAwait(false);
            // On a terminal, a spinner while the leader streams (large stores take a while).
            return await cli.Console.Status().StartAsync($"saving a snapshot from the leader into {file} ...",
                _ => SaveAsync(client, file, cli.Output, cli.Error, cancellation)).ConfigureAwait(false);
        });

        var restoreFile = new Argument<string>("FILE") { Description = "a backup written by 'raftkv snapshot save'" };
        var dataDir = new Option<string>("--data-dir") { Description = "the NEW member's empty data directory", Required = true };
        var nodeId = new Option<ulong>("--node-id") { Description = "the member this data directory belongs to", Required = true };
        var members = new Option<string>("--members") { Description = "the new cluster's voters, e.g. 1,2,3", Required = true };
        var restore = new Command("restore", "offline: seed member N's empty data directory of a NEW cluster from FILE; run once per member, then start the silos")
        {
            restoreFile, dataDir, nodeId, members,
        };
        restore.Validators.Add(result =>
        {
            if (result.GetResult(members) is null || result.GetResult(nodeId) is null) return; // reported as missing
            if (ParseMembers(result.GetValue(members)) is not { } ids)
            {
                result.AddError("--members needs a comma-separated list of distinct positive member ids, e.g. 1,2,3");
            }
            else if (result.GetValue(nodeId) is var id && (id == 0 || !ids.Contains(id)))
            {
                result.AddError($"--node-id {id} is not one of --members {string.Join(",", ids)}");
            }
        });
        restore.SetAction(parse => RestoreAsync(parse.GetValue(restoreFile)!, parse.GetValue(dataDir)!, parse.GetValue(nodeId),
            ParseMembers(parse.GetValue(members))!, cli.Output, cli.Error));

        return new Command("snapshot", "back up and restore: snapshot save FILE | snapshot restore FILE --data-dir DIR --node-id N --members ID,ID,...") { save, restore };
    }

    private static List<ulong>? ParseMembers(string? list)
    {
        var ids = new List<ulong>();
        foreach (string id in (list ?? "").Split(',', StringSplitOptions.TrimEntries))
        {
            if (!ulong.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out ulong member) || member == 0 || ids.Contains(member)) return null;
            ids.Add(member);
        }
        return ids;
    }

    public static async Task<int> SaveAsync(RaftKvClient client, string file, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        string path = Path.GetFullPath(file);
        string directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
        {
            await error.WriteLineAsync($"raftkv: directory '{directory}' does not exist").ConfigureAwait(false);
            return RaftKvCli.ExitInvalidArgument;
        }
        // Written beside the target and renamed over it only once complete and verified: the target is either the
        // previous file or the whole new snapshot, never a prefix.
        string temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid().ToString("N")[..8]}.tmp");
        try
        {
            SnapshotSaveResult result;
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                result = await client.SaveSnapshotAsync(stream, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            SnapshotFileInfo info = SnapshotFile.Verify(temporary);
            ulong keys = VerifyData(temporary, info);
            File.Move(temporary, path, overwrite: true);
            new PhysicalFileSystem().SyncDirectory(directory);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"OK saved {path}: index={result.Index} term={result.Term} keys={keys} bytes={result.TotalBytes} crc32c=0x{result.Crc32C:x8} from={result.Endpoint}"))
                .ConfigureAwait(false);
            return RaftKvCli.ExitOk;
        }
        catch (Exception damaged) when (damaged is InvalidDataException or SnapshotCorruptionException)
        {
            await error.WriteLineAsync($"raftkv: snapshot save failed, nothing was written to {path}: {damaged.Message}").ConfigureAwait(false);
            return RaftKvCli.ExitOtherError;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public static async Task<int> RestoreAsync(string backup, string dataDirectoryOption, ulong nodeId, IReadOnlyList<ulong> members, TextWriter output, TextWriter error)
    {
        string file = Path.GetFullPath(backup);
        string dataDirectory = Path.GetFullPath(dataDirectoryOption);
        SnapshotFileInfo info;
        ulong keys;
        try
        {
            info = SnapshotFile.Verify(file);
            keys = VerifyData(file, info);
        }
        catch (Exception bad) when (bad is SnapshotCorruptionException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException)
        {
            await error.WriteLineAsync($"raftkv: {file} is not a usable RaftKv snapshot, nothing was restored: {bad.Message}").ConfigureAwait(false);
            return RaftKvCli.ExitInvalidArgument;
        }

        // The node keeps its Raft state in <data>/raft and its FASTER store in <data>/kv (NodeRuntime). Restore seeds a
        // new member; it never overwrites one, which could silently lose that member's newer state.
        string raftDirectory = Path.Combine(dataDirectory, "raft");
        foreach (string existing in new[] { raftDirectory, Path.Combine(dataDirectory, "kv") })
        {
            if (Directory.Exists(existing) && Directory.EnumerateFileSystemEntries(existing).Any())
            {
                await error.WriteLineAsync($"raftkv: {existing} already holds a node's data; restore seeds a NEW cluster, so give each member an empty --data-dir")
                    .ConfigureAwait(false);
                return RaftKvCli.ExitInvalidArgument;
            }
        }

        // Every member gets the same snapshot: same index and term, and the new cluster's members as voters. The
        // revisions in it are log indices, so the new cluster's log continues after the snapshot's index and every
        // later write gets a higher revision (the counter is kept).
        var metadata = new SnapshotMetadata(info.Metadata.Index, info.Metadata.Term, new ClusterConfiguration(members));
        var fileSystem = new PhysicalFileSystem();
        fileSystem.CreateDirectoryDurably(dataDirectory);
        string staging = Path.Combine(dataDirectory, $".restore-{Guid.NewGuid().ToString("N")[..8]}");
        try
        {
            using (NodeStorage storage = NodeStorage.Open(fileSystem, staging, new WalOptions(), metadata.Configuration))
            {
                using (SnapshotWriter writer = storage.Snapshots.BeginWrite(metadata))
                {
                    using FileStream source = File.OpenRead(file);
                    source.Position = info.DataOffset;
                    byte[] buffer = new byte[1 << 20];
                    for (long left = info.DataLengthBytes; left > 0;)
                    {
                        int read = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                        if (read == 0) throw new InvalidDataException($"{file} changed while it was being restored");
                        writer.Write(buffer.AsSpan(0, read));
                        left -= read;
                    }
                    writer.Commit();
                }
                storage.InstallPublishedSnapshot(metadata);
                // Term as of the snapshot, no vote, commit = the snapshot's index (a hint: Raft needs only term and vote).
                storage.Save(new HardState(metadata.Term, 0, metadata.Index), []);
            }
            if (Directory.Exists(raftDirectory)) Directory.Delete(raftDirectory); // empty, checked above
            Directory.Move(staging, raftDirectory);
            fileSystem.SyncDirectory(dataDirectory);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"OK restored index={metadata.Index} term={metadata.Term} keys={keys} into {dataDirectory} for node {nodeId} of members {string.Join(",", members)}"))
            .ConfigureAwait(false);
        return RaftKvCli.ExitOk;
    }

    /// <summary>Parses the state machine's part of a verified snapshot file (format, order, limits, SHA-256) and counts its keys.</summary>
    private static ulong VerifyData(string file, SnapshotFileInfo info)
    {
        using FileStream source = File.OpenRead(file);
        source.Position = info.DataOffset;
        using var data = new BoundedReadStream(source, info.DataLengthBytes);
        return FasterKvStateMachine.VerifySnapshot(info.Metadata.Index, new BufferedStream(data, 1 << 16), new StateMachineOptions());
    }

    /// <summary>Reads at most a given number of bytes from a stream, then reports its end.</summary>
    private sealed class BoundedReadStream(Stream inner, long length) : Stream
    {
        private long _left = length;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_left == 0) return 0;
            int read = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
            _left -= read;
            return read;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
