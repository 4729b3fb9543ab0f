using System.Net;

namespace RaftKv.Silo;

/// <summary>How a silo finds the other silos of its Orleans cluster.</summary>
public enum SiloClustering
{
    /// <summary>
    /// Orleans' development clustering: the membership table lives in memory on the silo at
    /// <see cref="OrleansSiloOptions.PrimarySiloEndpoint"/>. Good for a laptop and for tests; if that silo dies the
    /// others never learn who else died, so not for VMs.
    /// </summary>
    Development = 0,

    /// <summary>The membership table stored in the Raft-replicated store itself (<c>UseRaftKvClustering()</c>), for VMs.</summary>
    RaftKv = 1,
}

/// <summary>
/// The Orleans side of one silo, bound from "RaftKv:Orleans" (kept apart from <c>NodeOptions</c>, which stays free
/// of hosting concerns). Immutable after binding; <see cref="Validate"/> runs at start.
/// </summary>
public sealed record OrleansSiloOptions
{
    public const string SectionName = "RaftKv:Orleans";

    public string ClusterId { get; init; } = "raftkv";

    public string ServiceId { get; init; } = "raftkv";

    /// <summary>Silo-to-silo port (Orleans messaging, not Raft).</summary>
    public int SiloPort { get; init; } = 11111;

    /// <summary>Port Orleans clients connect to; 0 disables the gateway on this silo.</summary>
    public int GatewayPort { get; init; } = 30000;

    /// <summary>The address other silos and clients use to reach this one.</summary>
    public string AdvertisedAddress { get; init; } = "127.0.0.1";

    public SiloClustering Clustering { get; init; } = SiloClustering.Development;

    /// <summary>For <see cref="SiloClustering.Development"/>: the silo endpoint (host:port) of the silo holding the table.</summary>
    public string PrimarySiloEndpoint { get; init; } = "127.0.0.1:11111";

    /// <summary>
    /// Serve the Orleans Dashboard (grains, silos, call rates) under /dashboard/ on the monitoring port, beside the
    /// cluster page. Off by default: it profiles every grain call and polls the silos every second.
    /// </summary>
    public bool Dashboard { get; init; }

    public IPAddress AdvertisedIPAddress => IPAddress.Parse(AdvertisedAddress);

    public IPEndPoint PrimarySiloIPEndPoint => IPEndPoint.Parse(PrimarySiloEndpoint);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(ClusterId)) errors.Add("RaftKv:Orleans:ClusterId must be set.");
        if (string.IsNullOrWhiteSpace(ServiceId)) errors.Add("RaftKv:Orleans:ServiceId must be set.");
        if (SiloPort is < 1 or > 65535) errors.Add("RaftKv:Orleans:SiloPort must be a TCP port.");
        if (GatewayPort is < 0 or > 65535) errors.Add("RaftKv:Orleans:GatewayPort must be a TCP port or 0.");
        if (!IPAddress.TryParse(AdvertisedAddress, out _)) errors.Add($"RaftKv:Orleans:AdvertisedAddress '{AdvertisedAddress}' is not an IP address.");
        if (!Enum.IsDefined(Clustering)) errors.Add($"RaftKv:Orleans:Clustering '{Clustering}' is unknown.");
        if (Clustering == SiloClustering.Development && !IPEndPoint.TryParse(PrimarySiloEndpoint, out _))
        {
            errors.Add($"RaftKv:Orleans:PrimarySiloEndpoint '{PrimarySiloEndpoint}' is not an IP endpoint (host:port).");
        }
        return errors;
    }
}
