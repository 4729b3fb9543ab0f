using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using RaftKv.Node;

namespace RaftKv.Grains;

/// <summary>
/// Sends a request to the RaftNode grain service of the leader's silo, following leader hints and retrying through
/// elections and unreachable silos until <see cref="RaftKvGrainOptions.LeaderRetryTimeoutMs"/>. The caller makes the
/// request safe to repeat: a write carries the same (session, sequence) on every attempt.
/// </summary>
/// <remarks>
/// The first guess is the leader the local node knows of; later guesses come only from hints. When no leader is known (an election, or this silo's node
/// is cut off from its peers) the router asks the active silos in turn: a follower refuses with a leader hint and
/// proposes nothing, so asking around is safe and finds the leader.
/// </remarks>
public sealed partial class RaftLeaderRouter(
    IRaftNodeServiceClient services, RaftNodeDirectory directory, IRaftKvNode localNode, IOptions<RaftKvGrainOptions> options,
    TimeProvider timeProvider, ILogger<RaftLeaderRouter> logger)
{
    private readonly RaftKvGrainOptions _options = options.Value;

    public async Task<T> OnLeaderAsync<T>(Func<IRaftNodeService, Task<T>> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        long start = timeProvider.GetTimestamp();
        ulong leader = LocalView();
        Exception? last = null;
        // After an attempt that may have proposed the request (it failed other than by a refusal), a later "session
        // expired" does not mean the write was not applied: it may have been, before the session expired.
        bool earlierAttemptMayHaveProposed = false;
        for (int attempt = 1; ; attempt++)
        {
            bool followHintAtOnce = false;
            SiloAddress? silo = leader != 0 ? await directory.FindSiloAsync(leader).ConfigureAwait(true) : directory.ActiveSilo(attempt);
            if (silo is not null)
            {
                try
                {
                    return await call(services.On(silo)).ConfigureAwait(true);
                }
                catch (RaftKvNotLeaderException notLeader)
                {
                    // Nothing was proposed; the hint (if any) names a better target.
                    last = notLeader;
                    followHintAtOnce = notLeader.LeaderNodeId != 0 && notLeader.LeaderNodeId != leader;
                    leader = notLeader.LeaderNodeId;
                }
                catch (RaftKvUnavailableException unavailable)
                {
                    // A node that lost leadership names its successor when it knows one: go there next (after the backoff).
                    last = unavailable;
                    earlierAttemptMayHaveProposed = true;
                    leader = unavailable.LeaderNodeId;
                }
                catch (Exception e) when (e is OrleansMessageRejectionException or TimeoutException)
                {
                    // The silo went away or did not answer; what it hosted may have changed.
                    last = e;
                    earlierAttemptMayHaveProposed = true;
                    directory.Forget(silo);
                    leader = 0;
                }
                catch (RaftKvSessionExpiredException expired) when (earlierAttemptMayHaveProposed && !expired.InDoubt)
                {
                    throw new RaftKvSessionExpiredException(expired.SessionId) { InDoubt = true };
                }
            }
            else
            {
                last ??= new RaftKvUnavailableException(leader == 0 ? "no leader is known" : $"the silo of leader node {leader} is not active");
                leader = 0;
            }

            TimeSpan elapsed = timeProvider.GetElapsedTime(start);
            if (elapsed.TotalMilliseconds >= _options.LeaderRetryTimeoutMs)
            {
                LogGaveUp(logger, attempt, (long)elapsed.TotalMilliseconds, last.Message);
                // The last leader named (0 if none), so a caller can pass it on as its leader hint.
                throw new RaftKvUnavailableException($"no leader could serve the request within {_options.LeaderRetryTimeoutMs} ms ({last.Message}); retry", leader);
            }
            if (!followHintAtOnce)
            {
                int backoffMs = (int)Math.Min(_options.MaxRetryBackoffMs, (long)_options.RetryBackoffMs << Math.Min(attempt - 1, 10));
                await Task.Delay(TimeSpan.FromMilliseconds(backoffMs), timeProvider).ConfigureAwait(true);
            }
        }
    }

    /// <summary>The leader the local node knows of (0 if none, or if the node is not running).</summary>
    private ulong LocalView()
    {
        try
        {
            return localNode.Status.Leader;
        }
        catch (UnavailableException)
        {
            return 0;
        }
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Gave up reaching the leader after {Attempts} attempts in {ElapsedMs} ms: {Reason}")]
    private static partial void LogGaveUp(ILogger logger, int attempts, long elapsedMs, string reason);
}
