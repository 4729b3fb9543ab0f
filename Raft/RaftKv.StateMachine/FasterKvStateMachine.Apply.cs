namespace RaftKv.StateMachine;

public sealed partial class FasterKvStateMachine
{
    /// <summary>Applies one command entry with the shared semantics (<see cref="KvApply"/>) over FASTER.</summary>
    private KvReply ApplyCommand(ulong index, ReadOnlyMemory<byte> data) => KvApply.Command(index, data, _sessions, _options, this);

    byte[]? IKvRecordStore.Read(ReadOnlySpan<byte> key, ulong index) => _store.Read(_applySession, key, (long)index);

    KeyVersion IKvRecordStore.ReadVersion(ReadOnlySpan<byte> key, ulong index) => _store.ReadVersion(_applySession, key, (long)index);

    void IKvRecordStore.Upsert(ReadOnlySpan<byte> key, KeyVersion version, ReadOnlySpan<byte> value, ulong index) =>
        FasterStore.Upsert(_applySession, key, version.CreateIndex, version.ModIndex, value, (long)index);

    void IKvRecordStore.Delete(ReadOnlySpan<byte> key, ulong index) => FasterStore.Delete(_applySession, key, (long)index);
}
