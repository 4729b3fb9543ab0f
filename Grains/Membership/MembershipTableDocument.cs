using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans;
using Orleans.Runtime;

namespace RaftKv.Grains.Membership;

/// <summary>
/// A cluster's whole membership table as stored in one RaftKv key: the table version and one row per silo.
/// </summary>
/// <remarks>
/// Etags are store revisions. Each row and the table version carry the revision of the write that last changed
/// them, as <see cref="MembershipTableDocument.ThisWrite"/> (0) in the value that write stored, because a write
/// cannot know its own revision before it commits; a reader replaces 0 with the key's mod revision
/// (<see cref="WithRevision"/>). Revisions are Raft log indices: unique per write and never reused, so they serve
/// as Orleans' "new unique automatically generated eTag". The absent key reads as an empty table at version 0 with
/// etag "0" (no real revision is 0), so a table that nobody initialized behaves like a freshly initialized one.
/// </remarks>
internal sealed record MembershipTableDocument(int Version, ulong VersionEtag, SiloRow[] Silos)
{
    /// <summary>In a stored value: "the revision of the write that stored this value".</summary>
    public const ulong ThisWrite = 0;

    public static MembershipTableDocument Empty { get; } = new(0, ThisWrite, []);

    /// <summary>Replaces <see cref="ThisWrite"/> etags by the revision the document was read at.</summary>
    public MembershipTableDocument WithRevision(ulong modRevision) => this with
    {
        VersionEtag = VersionEtag == ThisWrite ? modRevision : VersionEtag,
        Silos = [.. Silos.Select(s => s.Etag == ThisWrite ? s with { Etag = modRevision } : s)],
    };

    [JsonIgnore]
    public TableVersion TableVersion => new(Version, FormatEtag(VersionEtag));

    public SiloRow? Find(SiloAddress silo)
    {
        string address = silo.ToParsableString();
        return Silos.FirstOrDefault(s => s.Address == address);
    }

    /// <summary>A copy with <paramref name="row"/> replacing the row of the same silo, or added when there is none.</summary>
    public MembershipTableDocument WithRow(SiloRow row) => this with
    {
        Silos = [.. Silos.Where(s => s.Address != row.Address), row],
    };

    public static string FormatEtag(ulong etag) => etag.ToString(CultureInfo.InvariantCulture);

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this, MembershipJsonContext.Default.MembershipTableDocument);

    public static MembershipTableDocument Deserialize(ReadOnlySpan<byte> value) =>
        JsonSerializer.Deserialize(value, MembershipJsonContext.Default.MembershipTableDocument)
        ?? throw new InvalidDataException("the stored membership table is null");
}

/// <summary>One silo's row: Orleans' <see cref="MembershipEntry"/> in a stable, versionable shape, plus its etag.</summary>
internal sealed record SiloRow(
    string Address,
    ulong Etag,
    SiloStatus Status,
    SuspectVote[] SuspectTimes,
    int ProxyPort,
    string HostName,
    string SiloName,
    string? RoleName,
    int UpdateZone,
    int FaultZone,
    DateTime StartTime,
    DateTime IAmAliveTime)
{
    public static SiloRow From(MembershipEntry entry, ulong etag) => new(
        entry.SiloAddress.ToParsableString(),
        etag,
        entry.Status,
        [.. (entry.SuspectTimes ?? []).Select(v => new SuspectVote(v.Item1.ToParsableString(), ToUtc(v.Item2)))],
        entry.ProxyPort,
        entry.HostName ?? "",
        entry.SiloName ?? "",
        entry.RoleName,
        entry.UpdateZone,
        entry.FaultZone,
        ToUtc(entry.StartTime),
        ToUtc(entry.IAmAliveTime));

    public MembershipEntry ToEntry() => new()
    {
        SiloAddress = SiloAddress.FromParsableString(Address),
        Status = Status,
        SuspectTimes = SuspectTimes.Length == 0 ? null : [.. SuspectTimes.Select(v => Tuple.Create(SiloAddress.FromParsableString(v.Silo), v.Time))],
        ProxyPort = ProxyPort,
        HostName = HostName,
        SiloName = SiloName,
        RoleName = RoleName,
        UpdateZone = UpdateZone,
        FaultZone = FaultZone,
        StartTime = StartTime,
        IAmAliveTime = IAmAliveTime,
    };

    public Tuple<MembershipEntry, string> ToTableRow() => Tuple.Create(ToEntry(), MembershipTableDocument.FormatEtag(Etag));

    /// <summary>
    /// The latest time the row is known to have changed: its start, its last IAmAlive, or the latest suspicion
    /// vote (declaring a silo dead records one, so a silo declared dead recently is not "old" even if its last
    /// IAmAlive is).
    /// </summary>
    [JsonIgnore]
    public DateTime EffectiveUpdateTime
    {
        get
        {
            DateTime latest = StartTime > IAmAliveTime ? StartTime : IAmAliveTime;
            foreach (SuspectVote vote in SuspectTimes) if (vote.Time > latest) latest = vote.Time;
            return latest;
        }
    }

    private static DateTime ToUtc(DateTime time) => time.Kind switch
    {
        DateTimeKind.Utc => time,
        DateTimeKind.Local => time.ToUniversalTime(),
        _ => DateTime.SpecifyKind(time, DateTimeKind.Utc), // Orleans writes UtcNow; unspecified times are taken as UTC.
    };
}

internal sealed record SuspectVote(string Silo, DateTime Time);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(MembershipTableDocument))]
internal sealed partial class MembershipJsonContext : JsonSerializerContext;
