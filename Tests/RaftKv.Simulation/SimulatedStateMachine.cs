using System.Buffers.Binary;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Simulation;

/// <summary>
/// A deterministic state machine for the simulator. Each command is an 8-byte command id plus padding; a command
/// id is applied at most once (the client retries, like a real client session), and the state is a hash chain
/// over everything applied, so two replicas agree only if they applied the same commands in the same order.
/// </summary>
public sealed class SimulatedStateMachine : IStateMachine
{
    private readonly HashSet<ulong> _appliedCommandIds = [];

    public ulong AppliedIndex { get; private set; }

    /// <summary>The hash chain over every command applied.</summary>
    public ulong StateHash { get; private set; } = 14695981039346656037UL;

    public IReadOnlySet<ulong> AppliedCommandIds => _appliedCommandIds;

    public static byte[] EncodeCommand(ulong commandId, int paddingBytes = 8)
    {
        var bytes = new byte[8 + paddingBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, commandId);
        return bytes;
    }

    public static ulong DecodeCommandId(ReadOnlySpan<byte> command) => BinaryPrimitives.ReadUInt64LittleEndian(command);

    public ReadOnlyMemory<byte> Apply(in LogEntry entry)
    {
        Invariant.Check(entry.Index == AppliedIndex + 1, $"applying {entry.Index} after {AppliedIndex}");
        AppliedIndex = entry.Index;
        if (entry.Type == EntryType.Command && _appliedCommandIds.Add(DecodeCommandId(entry.Data.Span)))
        {
            StateHash = (StateHash ^ DecodeCommandId(entry.Data.Span)) * 1099511628211UL;
        }
        return ReadOnlyMemory<byte>.Empty;
    }

    public IStateMachineSnapshot TakeSnapshot()
    {
        using var stream = new MemoryStream();
        var writer = new BinaryWriter(stream);
        writer.Write(StateHash);
        writer.Write(_appliedCommandIds.Count);
        foreach (ulong id in _appliedCommandIds.Order()) writer.Write(id);
        writer.Flush();
        return new Image(AppliedIndex, stream.ToArray());
    }

    public void Restore(ulong index, Stream snapshot)
    {
        var reader = new BinaryReader(snapshot);
        StateHash = reader.ReadUInt64();
        int count = reader.ReadInt32();
        _appliedCommandIds.Clear();
        for (int i = 0; i < count; i++) _appliedCommandIds.Add(reader.ReadUInt64());
        AppliedIndex = index;
    }

    public void Dispose()
    {
    }

    private sealed class Image(ulong index, byte[] bytes) : IStateMachineSnapshot
    {
        public ulong Index => index;

        public void WriteTo(Stream destination) => destination.Write(bytes);

        public void Dispose()
        {
        }
    }
}
