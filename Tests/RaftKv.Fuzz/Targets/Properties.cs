using RaftKv.Raft;

namespace RaftKv.Fuzz.Targets;

/// <summary>Checks shared by several targets on what a parser accepted.</summary>
internal static class Properties
{
    /// <summary>
    /// Raft decodes every configuration entry it is given (RaftNode.OnConfigurationAppended, and again when it rebuilds
    /// its configuration history at restart), so a parser that hands Raft entries must refuse one that does not decode.
    /// </summary>
    public static void ConfigurationEntryDecodes(LogEntry entry)
    {
        try
        {
            ClusterConfiguration.Decode(entry.Data.Span);
        }
        catch (FormatException exception)
        {
            throw new FuzzPropertyException($"configuration entry {entry.Index} was accepted but does not decode: {exception.Message}");
        }
    }
}
