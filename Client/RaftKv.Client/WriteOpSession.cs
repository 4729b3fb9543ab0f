namespace RaftKv.Client.Protos;

/// <summary>The session a WriteBatch op writes in: one definition for the gateway's batch checks and the client's batching.</summary>
public sealed partial class WriteOp
{
    /// <summary>The session id of the write this op carries; 0 when it carries none.</summary>
    public ulong SessionId => OpCase switch
    {
        OpOneofCase.Put => Put.SessionId,
        OpOneofCase.Delete => Delete.SessionId,
        OpOneofCase.CompareAndSwap => CompareAndSwap.SessionId,
        _ => 0,
    };
}
