using Orleans.Runtime;
using Orleans.Runtime.Services;
using Orleans.Services;

namespace RaftKv.Grains;

/// <summary>Reaches the RaftNode grain service of a chosen silo.</summary>
public interface IRaftNodeServiceClient : IGrainServiceClient<IRaftNodeService>
{
    /// <summary>
    /// The grain service on <paramref name="silo"/>. Always address it by silo: hashing a grain id onto the ring
    /// (what <c>GrainServiceClient</c> does by default) usually lands on another silo, so it can never find the
    /// leader's node or "the local node".
    /// </summary>
    IRaftNodeService On(SiloAddress silo);
}

public sealed class RaftNodeServiceClient(IServiceProvider serviceProvider) : GrainServiceClient<IRaftNodeService>(serviceProvider), IRaftNodeServiceClient
{
    public IRaftNodeService On(SiloAddress silo)
    {
        ArgumentNullException.ThrowIfNull(silo);
        return GetGrainService(silo);
    }
}
