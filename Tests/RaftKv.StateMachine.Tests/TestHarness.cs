using System.Text;
using RaftKv.Raft;

namespace RaftKv.StateMachine.Tests;

/// <summary>A temporary data directory that is deleted with the test.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "raftkv-sm-" + Guid.NewGuid().ToString("N"));

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Drives a state machine the way the Raft apply loop does: consecutive indices, one entry at a time.</summary>
public sealed class Driver : IDisposable
{
    public static readonly StateMachineOptions SmallOptions = new()
    {
        MaxKeyBytes = 256,
        MaxValueBytes = 16 * 1024,
        SessionTimeoutMs = 10_000,
        MaxSessions = 1000,
        IndexBuckets = 1024,
        LogPageSizeBytes = 64 * 1024,
        LogMemorySizeBytes = 256 * 1024,
        LogSegmentSizeBytes = 1024 * 1024,
    };

    public Driver(string directory, StateMachineOptions? options = null)
    {
        Directory = directory;
        Options = options ?? SmallOptions;
        Machine = FasterKvStateMachine.Open(directory, Options);
    }

    public string Directory { get; }

    public StateMachineOptions Options { get; }

    public FasterKvStateMachine Machine { get; private set; }

    public long NowMs { get; set; } = 1_000_000;

    public ulong NextIndex => Machine.AppliedIndex + 1;

    public KvReply Submit(KvCommand command) => ApplyRaw(command.Encode());

    public KvReply ApplyRaw(byte[] data)
    {
        var bytes = Machine.Apply(LogEntry.Command(NextIndex, 1, data));
        Assert.True(KvReply.TryDecode(bytes, out var reply));
        return reply;
    }

    public void ApplyNoOp() => Assert.True(Machine.Apply(new LogEntry(NextIndex, 1, EntryType.NoOp, default)).IsEmpty);

    public ulong Register()
    {
        var reply = Submit(KvCommand.RegisterSession(NowMs));
        Assert.Equal(KvStatus.Ok, reply.Status);
        return reply.SessionId;
    }

    public KvReply Put(ulong session, ulong sequence, string key, string value) =>
        Submit(KvCommand.Put(session, sequence, NowMs, Bytes(key), Bytes(value)));

    public string? GetString(string key) => Machine.Get(Bytes(key)) is { } entry ? Encoding.UTF8.GetString(entry.Value.Span) : null;

    public void Reopen()
    {
        Machine.Dispose();
        Machine = FasterKvStateMachine.Open(Directory, Options);
    }

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static string Text(ReadOnlyMemory<byte>? bytes) => bytes is { } b ? Encoding.UTF8.GetString(b.Span) : "<none>";

    public byte[] SnapshotBytes()
    {
        using var snapshot = Machine.TakeSnapshot();
        using var buffer = new MemoryStream();
        snapshot.WriteTo(buffer);
        return buffer.ToArray();
    }

    public void Dispose() => Machine.Dispose();
}
