using Grpc.Core;
using KvMetadata = RaftKv.Client.KvMetadata;
using RaftKv.ClientGateway;
using RaftKv.Grains;
using RaftKv.Node;
using RaftKv.StateMachine;

namespace RaftKv.Silo;

/// <summary>
/// The client gateway's writes through the Orleans session grains (<see cref="IClientSessionGrain"/>,
/// <see cref="ISessionRegistrarGrain"/>): gRPC clients and Orleans clients share one exactly-once path. The grain
/// serializes the session and follows the leader, so the gateway neither gates sessions nor forwards writes.
/// Grain errors become the gateway's gRPC statuses and trailers (docs/api.md).
/// </summary>
/// <remarks>
/// Before the silo is active (and once it starts stopping) <see cref="IsReady"/> is false and the gateway proposes on
/// the local node instead (the silo's Raft-backed membership table writes through the gateway before Orleans is
/// active); a call that races the change fails UNAVAILABLE with may-have-applied false. After a grain call was made, a retryable failure (not leader, unavailable, Orleans timeout
/// or message rejection) may have been applied: the grain may have proposed on an earlier attempt.
/// </remarks>
internal sealed class GrainGatewayWrites(IGrainFactory grains, IRaftKvNode node) : IKvGatewayWrites, ILifecycleParticipant<ISiloLifecycle>
{
    private volatile bool _active;

    public bool IsReady => _active;

    public void Participate(ISiloLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);
        lifecycle.Subscribe(
            nameof(GrainGatewayWrites),
            ServiceLifecycleStage.Active,
            _ =>
            {
                _active = true;
                return Task.CompletedTask;
            },
            _ =>
            {
                _active = false;
                return Task.CompletedTask;
            });
    }

    public Task<ulong> RegisterSessionAsync(CancellationToken cancellationToken) =>
        CallAsync(0, () => grains.GetGrain<ISessionRegistrarGrain>(0).RegisterAsync());

    public Task KeepAliveAsync(ulong sessionId, CancellationToken cancellationToken) =>
        CallAsync(sessionId, async () =>
        {
            await grains.GetGrain<IClientSessionGrain>((long)sessionId).KeepAliveAsync().ConfigureAwait(false);
            return true;
        });

    public async Task<KvReply> WriteAsync(KvCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        KvWrite write = ToWrite(command);
        KvWriteResult result = await CallAsync(command.SessionId,
            () => grains.GetGrain<IClientSessionGrain>((long)command.SessionId).WriteAsync(command.Sequence, write)).ConfigureAwait(false);
        return new KvReply
        {
            Status = result.Status switch
            {
                KvWriteStatus.NotFound => KvStatus.NotFound,
                KvWriteStatus.CompareFailed => KvStatus.CasFailed,
                _ => KvStatus.Ok,
            },
            SessionId = command.SessionId,
            Version = new KeyVersion(result.CreateRevision, result.ModRevision),
            Value = result.CurrentValue,
        };
    }

    private static KvWrite ToWrite(KvCommand command) => command.Type switch
    {
        KvCommandType.Put => KvWrite.Put(command.Key.ToArray(), command.Value.ToArray()),
        KvCommandType.Delete => KvWrite.Delete(command.Key.ToArray()),
        KvCommandType.CompareAndSwap => command.Condition switch
        {
            CasCondition.ValueEquals => KvWrite.CompareValueAndSwap(command.Key.ToArray(), command.ExpectedValue.ToArray(), command.Value.ToArray()),
            CasCondition.Absent => KvWrite.CreateIfAbsent(command.Key.ToArray(), command.Value.ToArray()),
            CasCondition.ModIndexEquals => KvWrite.CompareRevisionAndSwap(command.Key.ToArray(), command.ExpectedModIndex, command.Value.ToArray()),
            _ => throw KvGatewayErrors.InvalidArgument($"unknown compare-and-swap condition {command.Condition}"),
        },
        _ => throw KvGatewayErrors.InvalidArgument($"{command.Type} is not a session write"),
    };

    private async Task<T> CallAsync<T>(ulong sessionId, Func<Task<T>> call)
    {
        if (!_active)
        {
            // Nothing was sent anywhere.
            throw KvGatewayErrors.Failure(StatusCode.Unavailable, "the silo is not active yet (or is stopping); retry", mayHaveApplied: false);
        }
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RaftKvInvalidArgumentException invalid)
        {
            throw KvGatewayErrors.InvalidArgument(invalid.Message);
        }
        catch (RaftKvSessionExpiredException)
        {
            throw KvGatewayErrors.SessionExpired(sessionId);
        }
        catch (RaftKvStaleSequenceException)
        {
            throw KvGatewayErrors.Failure(StatusCode.FailedPrecondition,
                "stale sequence: the sequence number is below the session's last applied one; its reply is gone", mayHaveApplied: false);
        }
        catch (RaftKvNotLeaderException notLeader) when (notLeader.LeaderNodeId != 0)
        {
            // The grain followed hints and gave up; an earlier attempt of it may have proposed the write.
            var trailers = new Metadata { { KvMetadata.LeaderIdTrailer, notLeader.LeaderNodeId.ToString(System.Globalization.CultureInfo.InvariantCulture) } };
            if (node.ClientAddressOf(notLeader.LeaderNodeId) is { } address) trailers.Add(KvMetadata.LeaderEndpointTrailer, address);
            throw KvGatewayErrors.Failure(StatusCode.Unavailable, $"{notLeader.Message}", mayHaveApplied: true, trailers);
        }
        catch (Exception e) when (e is RaftKvNotLeaderException or RaftKvUnavailableException or TimeoutException or OrleansMessageRejectionException)
        {
            throw KvGatewayErrors.Failure(StatusCode.Unavailable, $"{e.Message}; retry", mayHaveApplied: true);
        }
    }
}
