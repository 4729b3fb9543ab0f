using Microsoft.Extensions.Logging;

namespace RaftKv.Silo;

internal static partial class SiloLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Critical, Message = "node {NodeId} stops after a fatal error")]
    public static partial void Fatal(ILogger logger, ulong nodeId, Exception error);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "node {NodeId} serving: clients at {ClientAddress}, peers at {PeerAddress}, monitoring at {HttpAddress}, data in {DataDirectory}")]
    public static partial void Serving(ILogger logger, ulong nodeId, string clientAddress, string peerAddress, string httpAddress, string dataDirectory);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "node {NodeId}: {ListenSetting} listens on port {ListenPort} ({ListenAddress}) but the cluster is given {AdvertisedSetting} = {AdvertisedAddress} (port {AdvertisedPort}). Other nodes and clients connect to the advertised address: unless NAT or a container port mapping forwards port {AdvertisedPort} to {ListenPort}, they never reach this node (a peer port that nobody reaches leaves this node campaigning and the others without it)")]
    public static partial void ListenPortDiffers(ILogger logger, ulong nodeId, string listenSetting, int listenPort, string listenAddress, string advertisedSetting, string advertisedAddress, int advertisedPort);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "node {NodeId}: its advertised {AdvertisedSetting} {AdvertisedAddress} does not reach this silo from here ({Reason}); it listens on {ListenAddress}. Peers configured with the advertised address will not reach it either unless NAT or a port mapping outside this host forwards it")]
    public static partial void AdvertisedAddressUnreachable(ILogger logger, ulong nodeId, string advertisedSetting, string advertisedAddress, string reason, string listenAddress);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "node {NodeId}: silo started (node runtime, Kestrel and Orleans all up)")]
    public static partial void Started(ILogger logger, ulong nodeId);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "node {NodeId} was asked to stop while starting; stopped")]
    public static partial void StoppedWhileStarting(ILogger logger, ulong nodeId);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Critical, Message = "Orleans gave up on this silo ({Sender}: {Context}); stopping the process for its supervisor to restart it (exit code 75): the Raft node hands off leadership if it leads and closes its log")]
    public static partial void OrleansGaveUp(ILogger logger, string sender, string context, Exception? error);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Critical, Message = "node {NodeId} failed to start or stopped with an error")]
    public static partial void FailedToStart(ILogger logger, ulong nodeId, Exception error);
}
