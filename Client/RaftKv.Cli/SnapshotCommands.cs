using System.Globalization;
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

    public static async Task<int> RestoreAsync(CommandLine command, TextWriter output, TextWriter error)
    {
        string file = Path.GetFullPath(command.Positional[1]);
        string dataDirectory = Path.GetFullPath(command.DataDirectory!);
        IReadOnlyList<ulong> members = command.Members!;
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
        Directory.CreateDirectory(dataDirectory);
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
            $"OK restored index={metadata.Index} term={metadata.Term} keys={keys} into {dataDirectory} for node {command.NodeId} of members {string.Join(",", members)}"))
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
