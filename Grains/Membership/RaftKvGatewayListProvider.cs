using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Messaging;
using Orleans.Runtime;

namespace RaftKv.Grains.Membership;

/// <summary>
/// Tells Orleans clients where the gateways are: the proxy endpoints of the active silos in the Raft-backed
/// membership table. The client reads the table; it never writes it.
/// </summary>
public sealed class RaftKvGatewayListProvider(RaftKvMembershipTable table, IOptions<GatewayOptions> gatewayOptions) : IGatewayListProvider
{
    public TimeSpan MaxStaleness { get; } = gatewayOptions.Value.GatewayListRefreshPeriod;

    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public async Task<IList<Uri>> GetGateways()
    {
        MembershipTableData snapshot = await table.ReadAll().ConfigureAwait(false);
        return [.. snapshot.Members
            .Select(row => row.Item1)
            .Where(entry => entry.Status == SiloStatus.Active && entry.ProxyPort != 0)
            .Select(entry => SiloAddress.New(entry.SiloAddress.Endpoint.Address, entry.ProxyPort, entry.SiloAddress.Generation).ToGatewayUri())];
    }
}
