using RaftKv.Raft;

namespace RaftKv.Simulation;

/// <summary>
/// The Ready contract (<see cref="Ready"/>) with instant persistence, for harnesses that drive bare
/// <see cref="RaftNode"/>s by hand and need no driver: the scenario tests (<see cref="ScenarioCluster"/>) and the core
/// throughput benchmark. One loop for both, in the contract's order: leader messages, persist, acknowledgements, apply,
/// advance. The swarm (<see cref="ClusterSimulation"/>) does not use it: it runs the production <c>RaftDriver</c>.
/// </summary>
public static class InstantReadyLoop
{
    /// <summary>Carries out every Ready the node has; returns how many there were.</summary>
    /// <param name="send">Every outgoing message, leader messages first (thesis 10.2.1), acknowledgements after <paramref name="persist"/>.</param>
    /// <param name="persist">Makes the Ready's snapshot, hard state and entries durable (null: nothing to keep).</param>
    /// <param name="apply">Each committed entry, in order (null: no state machine).</param>
    /// <param name="advanced">After the core has been told the Ready is carried out (its read states and leadership loss are then final).</param>
    public static int Drain(RaftNode node, Action<Message> send, Action<Ready>? persist = null, Action<LogEntry>? apply = null, Action<Ready>? advanced = null)
    {
        int readies = 0;
        while (node.HasReady())
        {
            Ready ready = node.GetReady();
            foreach (Message message in ready.Messages) send(message);
            persist?.Invoke(ready);
            foreach (Message message in ready.MessagesAfterPersist) send(message);
            if (apply is not null)
            {
                foreach (LogEntry entry in ready.CommittedEntries) apply(entry);
            }
            node.Advance(ready);
            advanced?.Invoke(ready);
            readies++;
        }
        return readies;
    }
}
