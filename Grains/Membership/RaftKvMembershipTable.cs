using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;

namespace RaftKv.Grains.Membership;

// Inside the namespace, so these win over RaftKv.Grains' own KvItem and friends (the grains' contracts).
using RaftKv.Client;

/// <summary>
/// Orleans' membership table, stored in the RaftKv cluster's own replicated store, so a cluster of VMs needs no
/// external database and keeps its membership as long as a majority of RaftKv members is up.
/// </summary>
/// <remarks>
/// <para>The table is a RaftKv client: it talks to the client gateways of the members, follows the Raft leader, and
/// reads linearizably. A silo starts its node runtime and gateway before Orleans asks for the table, so this is
/// layering, not a cycle.</para>
/// <para>The whole table is one key (<see cref="MembershipKeys.TableKey"/>) holding a
/// <see cref="MembershipTableDocument"/>. Every write is a read followed by a compare-and-swap on the key's mod
/// revision, so the checks Orleans asks for (the row's etag, the table version's etag, the row's presence) and the
/// change they guard happen atomically. A compare-and-swap lost to a concurrent write re-reads the table and checks
/// again: only a failed check answers false, never a write that merely touched another row (an IAmAlive).</para>
/// <para>Etags are store revisions (see <see cref="MembershipTableDocument"/>). IAmAlive changes neither the row's
/// etag nor the table version, as the contract allows.</para>
/// </remarks>
public sealed partial class RaftKvMembershipTable : IMembershipTable, IAsyncDisposable, IDisposable
{
    private readonly RaftKvClusteringOptions _options;
    private readonly string _clusterId;
    private readonly byte[] _key;
    private readonly RaftKvClient _client;
    private readonly ILogger _logger;

    public RaftKvMembershipTable(IOptions<RaftKvClusteringOptions> options, IOptions<ClusterOptions> clusterOptions, ILogger<RaftKvMembershipTable> logger)
        : this(options.Value, clusterOptions.Value.ClusterId, logger)
    {
    }

    /// <summary>A table for <paramref name="clusterId"/> outside dependency injection (tools, tests).</summary>
    public RaftKvMembershipTable(RaftKvClusteringOptions options, string clusterId, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        IReadOnlyList<string> errors = options.Validate();
        if (errors.Count > 0) throw new ArgumentException("invalid RaftKv clustering options: " + string.Join(" ", errors), nameof(options));
        _options = options;
        _clusterId = clusterId;
        _key = MembershipKeys.TableKey(clusterId);
        _logger = logger ?? NullLogger.Instance;
        var clientOptions = new RaftKvClientOptions
        {
            Endpoints = [.. options.Endpoints],
            AttemptTimeoutMs = options.AttemptTimeoutMs,
            MaxAttempts = options.MaxAttempts,
            MaxBackoffMs = Math.Max(options.MaxBackoffMs, new RaftKvClientOptions().InitialBackoffMs),
        };
        options.ConfigureClient?.Invoke(clientOptions);
        _client = new RaftKvClient(clientOptions);
    }

    /// <summary>
    /// Creates the table (version 0, no silos) unless it exists. Not needed for correctness (an absent table reads as
    /// an empty one), but it gives the version row a real etag before the first silo joins, as Orleans expects.
    /// </summary>
    /// <remarks>
    /// Orleans calls this once at silo start and does not retry it, and a silo may start while its RaftKv cluster has
    /// no leader yet (a cold start of every VM, or a majority still down), so this waits for the store, up to
    /// <see cref="RaftKvClusteringOptions.InitializeTimeoutMs"/>.
    /// </remarks>
    public async Task InitializeMembershipTable(bool tryInitTableVersion)
    {
        if (!tryInitTableVersion) return;
        long deadline = Environment.TickCount64 + _options.InitializeTimeoutMs;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                CasResult created = await _client.CompareAndSwapAsync(_key, CasExpectation.Absent, MembershipTableDocument.Empty.Serialize()).ConfigureAwait(false);
                if (created.Succeeded) LogTableCreated(_clusterId, created.ModRevision);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && Environment.TickCount64 < deadline)
            {
                // The client has already retried with backoff; the store is still unreachable or has no leader.
                LogWaitingForStore(_clusterId, attempt, e.Message);
            }
        }
    }

    /// <summary>Deletes the whole table of <paramref name="clusterId"/> (any cluster, not only this table's).</summary>
    public async Task DeleteMembershipTableEntries(string clusterId)
    {
        await _client.DeleteAsync(MembershipKeys.TableKey(clusterId)).ConfigureAwait(false);
        LogTableDeleted(clusterId);
    }

    /// <summary>
    /// Removes the rows of dead silos that changed last (IAmAlive, start or suspicion vote) before
    /// <paramref name="beforeDate"/>. Dead is final in Orleans (a restarted silo is a new generation, a new row), so
    /// removing such a row races with nothing. The table version does not change.
    /// </summary>
    public async Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate)
    {
        DateTime cutoff = beforeDate.UtcDateTime;
        int removed = 0;
        await WriteAsync(table =>
        {
            SiloRow[] kept = [.. table.Silos.Where(s => s.Status != SiloStatus.Dead || s.EffectiveUpdateTime >= cutoff)];
            removed = table.Silos.Length - kept.Length;
            return removed == 0 ? null : table with { Silos = kept };
        }, nameof(CleanupDefunctSiloEntries)).ConfigureAwait(false);
        if (removed > 0) LogDefunctRemoved(removed, cutoff);
    }

    public async Task<MembershipTableData> ReadRow(SiloAddress key)
    {
        ArgumentNullException.ThrowIfNull(key);
        (MembershipTableDocument table, _) = await ReadAsync().ConfigureAwait(false);
        return table.Find(key) is { } row
            ? new MembershipTableData(row.ToTableRow(), table.TableVersion)
            : new MembershipTableData(table.TableVersion);
    }

    public async Task<MembershipTableData> ReadAll()
    {
        (MembershipTableDocument table, _) = await ReadAsync().ConfigureAwait(false);
        return new MembershipTableData([.. table.Silos.Select(s => s.ToTableRow())], table.TableVersion);
    }

    /// <summary>Adds the row and sets the table version, if the version etag matches and the silo has no row.</summary>
    public Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(tableVersion);
        return WriteAsync(table =>
        {
            if (MembershipTableDocument.FormatEtag(table.VersionEtag) != tableVersion.VersionEtag) return null;
            if (table.Find(entry.SiloAddress) is not null) return null;
            return table.WithRow(SiloRow.From(entry, MembershipTableDocument.ThisWrite)) with
            {
                Version = tableVersion.Version,
                VersionEtag = MembershipTableDocument.ThisWrite,
            };
        }, nameof(InsertRow));
    }

    /// <summary>Replaces the row and sets the table version, if both the row's etag and the version etag match.</summary>
    public Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(etag);
        ArgumentNullException.ThrowIfNull(tableVersion);
        return WriteAsync(table =>
        {
            if (MembershipTableDocument.FormatEtag(table.VersionEtag) != tableVersion.VersionEtag) return null;
            if (table.Find(entry.SiloAddress) is not { } current || MembershipTableDocument.FormatEtag(current.Etag) != etag) return null;
            return table.WithRow(SiloRow.From(entry, MembershipTableDocument.ThisWrite)) with
            {
                Version = tableVersion.Version,
                VersionEtag = MembershipTableDocument.ThisWrite,
            };
        }, nameof(UpdateRow));
    }

    /// <summary>Sets the row's IAmAlive time only: no etag check, and neither the row's etag nor the version changes.</summary>
    public Task UpdateIAmAlive(MembershipEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        DateTime iAmAlive = SiloRow.From(entry, 0).IAmAliveTime;
        return WriteAsync(table => table.Find(entry.SiloAddress) is { } current ? table.WithRow(current with { IAmAliveTime = iAmAlive }) : null,
            nameof(UpdateIAmAlive));
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();

    public void Dispose() => _client.Dispose();

    /// <summary>The table (etags materialized) and the key's mod revision, 0 when the key does not exist.</summary>
    private async Task<(MembershipTableDocument Table, ulong Revision)> ReadAsync()
    {
        KvItem? item = await _client.GetAsync(_key).ConfigureAwait(false);
        return item is null ? (MembershipTableDocument.Empty, 0) : (MembershipTableDocument.Deserialize(item.Value).WithRevision(item.ModRevision), item.ModRevision);
    }

    /// <summary>
    /// Read, decide, compare-and-swap on the revision read; on a lost race, decide again on the table that won.
    /// <paramref name="change"/> returns the new table, or null to write nothing (a failed check, or nothing to do);
    /// it may run several times. Returns whether a write happened.
    /// </summary>
    private async Task<bool> WriteAsync(Func<MembershipTableDocument, MembershipTableDocument?> change, string operation)
    {
        (MembershipTableDocument table, ulong revision) = await ReadAsync().ConfigureAwait(false);
        for (int attempt = 1; ; attempt++)
        {
            MembershipTableDocument? next = change(table);
            if (next is null) return false;
            CasExpectation expected = revision == 0 ? CasExpectation.Absent : CasExpectation.ModRevision(revision);
            CasResult result = await _client.CompareAndSwapAsync(_key, expected, next.Serialize()).ConfigureAwait(false);
            if (result.Succeeded) return true;
            if (attempt >= _options.MaxContendedWriteAttempts)
            {
                throw new RaftKvMembershipException($"{operation} lost {attempt} compare-and-swaps in a row on the membership table of '{_clusterId}'");
            }
            LogContended(operation, attempt);
            // A failed compare-and-swap reports the key as it is now; decide again on that.
            (table, revision) = result.CurrentValue is null
                ? (MembershipTableDocument.Empty, 0UL)
                : (MembershipTableDocument.Deserialize(result.CurrentValue).WithRevision(result.ModRevision), result.ModRevision);
        }
    }

    [LoggerMessage(EventId = 3301, Level = LogLevel.Information, Message = "Created the membership table of cluster '{ClusterId}' at revision {Revision}")]
    private partial void LogTableCreated(string clusterId, ulong revision);

    [LoggerMessage(EventId = 3302, Level = LogLevel.Warning, Message = "Membership table of cluster '{ClusterId}': the RaftKv store is not answering yet (attempt {Attempt}: {Reason}); waiting")]
    private partial void LogWaitingForStore(string clusterId, int attempt, string reason);

    [LoggerMessage(EventId = 3303, Level = LogLevel.Information, Message = "Deleted the membership table of cluster '{ClusterId}'")]
    private partial void LogTableDeleted(string clusterId);

    [LoggerMessage(EventId = 3304, Level = LogLevel.Information, Message = "Removed {Count} dead silo rows last updated before {Cutoff:O}")]
    private partial void LogDefunctRemoved(int count, DateTime cutoff);

    [LoggerMessage(EventId = 3305, Level = LogLevel.Debug, Message = "{Operation}: the membership table changed concurrently (attempt {Attempt}); checking again")]
    private partial void LogContended(string operation, int attempt);
}

/// <summary>The membership table could not be read or written; Orleans retries table operations that throw.</summary>
public sealed class RaftKvMembershipException(string message) : Exception(message);
