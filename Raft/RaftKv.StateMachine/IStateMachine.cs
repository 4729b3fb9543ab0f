using RaftKv.Raft;

namespace RaftKv.StateMachine;

/// <summary>
/// The replicated state machine as the Raft driver sees it. The driver calls every member from one thread (the
/// apply loop), except <see cref="IStateMachineSnapshot.WriteTo"/>, which may run on a background thread while
/// the apply loop goes on.
/// </summary>
public interface IStateMachine : IDisposable
{
    /// <summary>The index of the last log entry reflected in this state. Invariant: never moves backwards except through <see cref="Restore"/>.</summary>
    ulong AppliedIndex { get; }

    /// <summary>
    /// Applies one committed entry (commands, no-ops and configuration entries all advance <see cref="AppliedIndex"/>)
    /// and returns the reply for the client that proposed it (empty for non-commands). Must be deterministic:
    /// every replica applying the same entries reaches the same state and the same replies.
    /// </summary>
    ReadOnlyMemory<byte> Apply(in LogEntry entry);

    /// <summary>Captures a point-in-time image at <see cref="AppliedIndex"/> cheaply; the bytes are produced later by <see cref="IStateMachineSnapshot.WriteTo"/>.</summary>
    IStateMachineSnapshot TakeSnapshot();

    /// <summary>Replaces the whole state with a snapshot's bytes; afterwards <see cref="AppliedIndex"/> is <paramref name="index"/>.</summary>
    void Restore(ulong index, Stream snapshot);
}

/// <summary>A captured state machine image that can be serialized off the apply thread.</summary>
public interface IStateMachineSnapshot : IDisposable
{
    ulong Index { get; }

    void WriteTo(Stream destination);
}
