using System.Text;

namespace RaftKv.Grains;

/// <summary>
/// One key, for Orleans applications. Reads go to the RaftNode grain service of the silo this activation lives on
/// (a follower serves a linearizable read by asking the leader for a read index). Writes borrow a session from the
/// silo's <see cref="KvGrainSessions"/> pool and go to the leader with one sequence number for all their retries.
/// </summary>
public sealed class KvGrain(RaftLeaderRouter router, RaftNodeDirectory directory, IRaftNodeServiceClient services, KvGrainSessions sessions)
    : Grain, IKvGrain
{
    private byte[]? _key;

    private byte[] Key => _key ??= Encoding.UTF8.GetBytes(this.GetPrimaryKeyString());

    public Task<KvItem?> GetAsync(ReadConsistency consistency = ReadConsistency.Linearizable) =>
        services.On(directory.LocalSilo).ReadAsync(Key, consistency);

    public Task<KvWriteResult> PutAsync(byte[] value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return WriteAsync(KvWrite.Put(Key, value));
    }

    public Task<KvWriteResult> DeleteAsync() => WriteAsync(KvWrite.Delete(Key));

    public Task<KvWriteResult> CompareAndSwapAsync(byte[] expectedValue, byte[] newValue)
    {
        ArgumentNullException.ThrowIfNull(expectedValue);
        ArgumentNullException.ThrowIfNull(newValue);
        return WriteAsync(KvWrite.CompareValueAndSwap(Key, expectedValue, newValue));
    }

    public Task<KvWriteResult> CompareRevisionAndSwapAsync(ulong expectedModRevision, byte[] newValue)
    {
        ArgumentNullException.ThrowIfNull(newValue);
        return WriteAsync(KvWrite.CompareRevisionAndSwap(Key, expectedModRevision, newValue));
    }

    private async Task<KvWriteResult> WriteAsync(KvWrite write)
    {
        for (int attempt = 1; ; attempt++)
        {
            KvGrainSessions.Lease lease = await sessions.RentAsync().ConfigureAwait(true);
            ulong sequence = lease.NextSequence();
            try
            {
                KvWriteResult result = await router.OnLeaderAsync(node => node.ProposeAsync(lease.SessionId, sequence, write)).ConfigureAwait(true);
                sessions.Return(lease);
                return result;
            }
            catch (RaftKvSessionExpiredException expired) when (attempt == 1 && !expired.InDoubt)
            {
                // A pooled session idle past the timeout: the write was not applied under it. Take a fresh one. Not
                // when the router had sent the write before and that attempt may have been applied (InDoubt): a fresh
                // session would apply it a second time.
            }
            // Any other failure leaves the outcome of this sequence number open; the session is not reused.
        }
    }
}
