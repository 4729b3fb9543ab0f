using Orleans;
using Orleans.Runtime;

namespace RaftKv.Silo;

/// <summary>
/// Decides when a stopping silo ends the Raft streams its peers hold open into it. Peers never end those streams, so
/// Kestrel's graceful stop would wait for them until the host's shutdown timeout; ending them as soon as the host
/// starts stopping (as this silo once did) cut the node off from its peers while the Orleans silo was still leaving
/// its cluster: a stopping leader could no longer commit (the Orleans membership writes that announce the stop waited
/// for a new election), and stopping the second of three silos left no quorum at all, so that stop hung until the
/// shutdown watchdog. The streams now end when the Orleans silo has stopped (<see cref="OrleansStopped"/>), when the
/// node stops, or when the host's shutdown timeout makes Kestrel abort every connection, whichever comes first.
/// The host stops its services concurrently (<see cref="SiloHost.AddRaftKvNode"/>), so Kestrel waiting for these
/// streams never holds up the Orleans silo's stop.
/// </summary>
public sealed class PeerStreamGate : IDisposable
{
    private readonly CancellationTokenSource _end = new();

    /// <summary>Cancelled when inbound peer streams must end.</summary>
    public CancellationToken Ending => _end.Token;

    public void End()
    {
        try
        {
            _end.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose() => _end.Dispose();

    /// <summary>
    /// Ends the streams when the Orleans silo's stop is done: a participant in the first lifecycle stage is stopped
    /// last, after the silo has left its cluster (membership table written through Raft, with the peers still there).
    /// </summary>
    internal sealed class OrleansStopped(PeerStreamGate gate) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle)
        {
            ArgumentNullException.ThrowIfNull(lifecycle);
            lifecycle.Subscribe(nameof(PeerStreamGate), ServiceLifecycleStage.First, _ => Task.CompletedTask, _ =>
            {
                gate.End();
                return Task.CompletedTask;
            });
        }
    }
}
