using RaftKv.Raft;

namespace RaftKv.StateMachine.Tests;

public sealed class ApplyTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Driver _driver;

    public ApplyTests() => _driver = new Driver(_temp.Sub("node"));

    public void Dispose()
    {
        _driver.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public void Put_get_delete_track_create_and_mod_indices()
    {
        ulong s = _driver.Register();
        ulong firstPut = _driver.NextIndex;
        var created = _driver.Put(s, 1, "a", "1");
        Assert.Equal(KvStatus.Ok, created.Status);
        Assert.Equal(new KeyVersion(firstPut, firstPut), created.Version);

        ulong secondPut = _driver.NextIndex;
        var updated = _driver.Put(s, 2, "a", "2");
        Assert.Equal(new KeyVersion(firstPut, secondPut), updated.Version);
        var entry = _driver.Machine.Get(Driver.Bytes("a"));
        Assert.NotNull(entry);
        Assert.Equal("2", Driver.Text(entry.Value));
        Assert.Equal(updated.Version, entry.Version);

        var deleted = _driver.Submit(KvCommand.Delete(s, 3, _driver.NowMs, Driver.Bytes("a")));
        Assert.Equal(KvStatus.Ok, deleted.Status);
        Assert.Equal(updated.Version, deleted.Version);
        Assert.Null(_driver.Machine.Get(Driver.Bytes("a")));
        Assert.Equal(KvStatus.NotFound, _driver.Submit(KvCommand.Delete(s, 4, _driver.NowMs, Driver.Bytes("a"))).Status);

        ulong recreate = _driver.NextIndex;
        Assert.Equal(new KeyVersion(recreate, recreate), _driver.Put(s, 5, "a", "3").Version);
    }

    /// <summary>
    /// Puts and deletes read only the versions of the key's record: into the stack when the record is small, through a
    /// pooled buffer when it is large, and from disk when it left memory. Each path keeps the create index.
    /// </summary>
    [Fact]
    public void Puts_and_deletes_keep_create_indices_for_large_records_and_records_on_disk()
    {
        ulong s = _driver.Register();
        ulong seq = 0;
        string large = new('L', 4000); // above FasterStore.InlineReadBytes
        var created = new Dictionary<string, ulong>();
        // 200 records of 4 KB: far more than the 256 KB of log memory, so the first ones are read back from disk.
        for (int i = 0; i < 200; i++)
        {
            string key = $"k{i:D3}";
            created[key] = _driver.NextIndex;
            Assert.Equal(KvStatus.Ok, _driver.Put(s, ++seq, key, large + i).Status);
        }
        foreach (string key in new[] { "k000", "k001", "k100", "k199" })
        {
            ulong update = _driver.NextIndex;
            var updated = _driver.Put(s, ++seq, key, "small");
            Assert.Equal(new KeyVersion(created[key], update), updated.Version);
            Assert.Equal("small", _driver.GetString(key));
        }
        // Small again, then large again: the stack path, then the pooled one, on the same key.
        ulong again = _driver.NextIndex;
        Assert.Equal(new KeyVersion(created["k000"], again), _driver.Put(s, ++seq, "k000", large).Version);

        foreach (string key in new[] { "k002", "k000" })
        {
            var deleted = _driver.Submit(KvCommand.Delete(s, ++seq, _driver.NowMs, Driver.Bytes(key)));
            Assert.Equal(KvStatus.Ok, deleted.Status);
            Assert.Equal(created[key], deleted.Version.CreateIndex);
            Assert.Null(_driver.GetString(key));
            Assert.Equal(KvStatus.NotFound, _driver.Submit(KvCommand.Delete(s, ++seq, _driver.NowMs, Driver.Bytes(key))).Status);
        }
    }

    [Fact]
    public void Compare_and_swap_on_value_on_absence_and_on_mod_index()
    {
        ulong s = _driver.Register();
        byte[] key = Driver.Bytes("cas");
        var created = _driver.Submit(KvCommand.CreateIfAbsent(s, 1, _driver.NowMs, key, Driver.Bytes("x")));
        Assert.Equal(KvStatus.Ok, created.Status);

        var notAbsent = _driver.Submit(KvCommand.CreateIfAbsent(s, 2, _driver.NowMs, key, Driver.Bytes("y")));
        Assert.Equal(KvStatus.CasFailed, notAbsent.Status);
        Assert.Equal(created.Version, notAbsent.Version);
        Assert.Equal("x", Driver.Text(notAbsent.Value));

        var wrongValue = _driver.Submit(KvCommand.CompareValueAndSwap(s, 3, _driver.NowMs, key, Driver.Bytes("nope"), Driver.Bytes("y")));
        Assert.Equal(KvStatus.CasFailed, wrongValue.Status);
        Assert.Equal("x", Driver.Text(wrongValue.Value));

        var rightValue = _driver.Submit(KvCommand.CompareValueAndSwap(s, 4, _driver.NowMs, key, Driver.Bytes("x"), Driver.Bytes("y")));
        Assert.Equal(KvStatus.Ok, rightValue.Status);
        Assert.Equal(created.Version.CreateIndex, rightValue.Version.CreateIndex);

        var staleVersion = _driver.Submit(KvCommand.CompareModIndexAndSwap(s, 5, _driver.NowMs, key, created.Version.ModIndex, Driver.Bytes("z")));
        Assert.Equal(KvStatus.CasFailed, staleVersion.Status);
        Assert.Equal(rightValue.Version, staleVersion.Version);

        var currentVersion = _driver.Submit(KvCommand.CompareModIndexAndSwap(s, 6, _driver.NowMs, key, rightValue.Version.ModIndex, Driver.Bytes("z")));
        Assert.Equal(KvStatus.Ok, currentVersion.Status);
        Assert.Equal("z", _driver.GetString("cas"));

        var absentByVersion = _driver.Submit(KvCommand.CompareModIndexAndSwap(s, 7, _driver.NowMs, Driver.Bytes("other"), 0, Driver.Bytes("v")));
        Assert.Equal(KvStatus.Ok, absentByVersion.Status);
        var missingValue = _driver.Submit(KvCommand.CompareValueAndSwap(s, 8, _driver.NowMs, Driver.Bytes("missing"), Driver.Bytes(""), Driver.Bytes("v")));
        Assert.Equal(KvStatus.CasFailed, missingValue.Status);
        Assert.Null(missingValue.Value);
        Assert.Equal(KeyVersion.Absent, missingValue.Version);
    }

    [Fact]
    public void Retried_commands_are_answered_from_the_session_table_and_applied_once()
    {
        ulong s = _driver.Register();
        byte[] counter = Driver.Bytes("counter");
        ulong sequence = 0;
        int increments = 0;
        // Each increment is a CAS on the mod index, retried (duplicated in the log) up to twice, as a client whose
        // replies were lost would do. A re-applied retry would either increment again or fail its CAS.
        for (int i = 0; i < 20; i++)
        {
            var current = _driver.Machine.Get(counter);
            int value = current is null ? 0 : int.Parse(Driver.Text(current.Value), System.Globalization.CultureInfo.InvariantCulture);
            var command = KvCommand.CompareModIndexAndSwap(s, ++sequence, _driver.NowMs, counter, current?.Version.ModIndex ?? 0,
                Driver.Bytes((value + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var first = _driver.Submit(command);
            Assert.Equal(KvStatus.Ok, first.Status);
            increments++;
            for (int retry = 0; retry < i % 3; retry++)
            {
                Assert.Equal(first, _driver.Submit(command));
            }
        }
        Assert.Equal(increments.ToString(System.Globalization.CultureInfo.InvariantCulture), _driver.GetString("counter"));
    }

    [Fact]
    public void A_sequence_below_the_last_applied_is_stale()
    {
        ulong s = _driver.Register();
        Assert.Equal(KvStatus.Ok, _driver.Put(s, 5, "k", "five").Status);
        var stale = _driver.Put(s, 4, "k", "four");
        Assert.Equal(KvStatus.StaleSequence, stale.Status);
        Assert.Equal("five", _driver.GetString("k"));
        Assert.Equal(KvStatus.Ok, _driver.Put(s, 6, "k", "six").Status);
    }

    [Fact]
    public void Sessions_expire_deterministically_in_log_time()
    {
        ulong idle = _driver.Register();
        ulong active = _driver.Register();
        long start = _driver.NowMs;
        long timeout = _driver.Options.SessionTimeoutMs;
        for (long t = start; t <= start + timeout; t += timeout / 4)
        {
            _driver.NowMs = t;
            Assert.Equal(KvStatus.Ok, _driver.Submit(KvCommand.KeepAlive(active, t)).Status);
        }
        // Exactly at the timeout the idle session is still alive: expiry needs idle time strictly above it.
        _driver.NowMs = start + timeout;
        Assert.Equal(KvStatus.Ok, _driver.Put(idle, 1, "k", "v").Status);

        _driver.NowMs = start + 2 * timeout + 1;
        Assert.Equal(KvStatus.Ok, _driver.Submit(KvCommand.KeepAlive(0, _driver.NowMs)).Status);
        Assert.Equal(KvStatus.SessionExpired, _driver.Put(idle, 2, "k", "w").Status);
        Assert.Equal(KvStatus.SessionExpired, _driver.Put(active, 1, "k", "w").Status);
        Assert.Equal("v", _driver.GetString("k"));

        // A timestamp from a leader whose clock is behind does not move log time backwards or revive anything.
        _driver.NowMs = start;
        Assert.Equal(KvStatus.SessionExpired, _driver.Put(idle, 3, "k", "x").Status);
        Assert.Equal(0, _driver.Machine.SessionCount);
    }

    [Fact]
    public void Unknown_sessions_malformed_entries_and_invalid_writes_are_result_values()
    {
        Assert.Equal(KvStatus.UnknownSession, _driver.Put(0, 1, "k", "v").Status);
        Assert.Equal(KvStatus.UnknownSession, _driver.Put(1_000_000, 1, "k", "v").Status);
        Assert.Equal(KvStatus.MalformedCommand, _driver.ApplyRaw([1, 2, 3]).Status);
        ulong s = _driver.Register();
        var tooBig = _driver.Submit(KvCommand.Put(s, 1, _driver.NowMs, Driver.Bytes("k"), new byte[_driver.Options.MaxValueBytes + 1]));
        Assert.Equal(KvStatus.InvalidArgument, tooBig.Status);
        Assert.Equal(KvStatus.InvalidArgument, _driver.Submit(KvCommand.Put(s, 2, _driver.NowMs, Array.Empty<byte>(), Driver.Bytes("v"))).Status);
        // The rejected writes consumed their sequence numbers like any other reply.
        Assert.Equal(KvStatus.InvalidArgument, _driver.Submit(KvCommand.Put(s, 2, _driver.NowMs, Array.Empty<byte>(), Driver.Bytes("v"))).Status);
        Assert.Equal(KvStatus.StaleSequence, _driver.Put(s, 1, "k", "v").Status);
        Assert.Null(_driver.Machine.Get(Driver.Bytes("k")));
    }

    [Fact]
    public void Non_command_entries_advance_the_applied_index_and_gaps_are_refused()
    {
        _driver.ApplyNoOp();
        Assert.Equal(1UL, _driver.Machine.AppliedIndex);
        Assert.Throws<RaftInvariantException>(() => _driver.Machine.Apply(LogEntry.Command(5, 1, KvCommand.RegisterSession(0).Encode())));
        Assert.Equal(1UL, _driver.Machine.AppliedIndex);
    }

    [Fact]
    public void Scan_returns_live_keys_with_the_prefix_in_order()
    {
        ulong s = _driver.Register();
        ulong sequence = 0;
        foreach (string key in new[] { "user/3", "user/1", "other/1", "user/2", "user/4" })
        {
            _driver.Put(s, ++sequence, key, key + "-v");
        }
        _driver.Submit(KvCommand.Delete(s, ++sequence, _driver.NowMs, Driver.Bytes("user/2")));
        _driver.Put(s, ++sequence, "user/1", "updated");

        var found = _driver.Machine.Scan(Driver.Bytes("user/"), limit: 2);
        Assert.Equal(["user/1", "user/3"], found.Select(e => Driver.Text(e.Key)));
        Assert.Equal("updated", Driver.Text(found[0].Value));
        Assert.Equal(3, _driver.Machine.Scan(Driver.Bytes("user/"), limit: 10).Count);
    }

    [Fact]
    public async Task Reads_run_concurrently_with_the_apply_thread()
    {
        ulong s = _driver.Register();
        _driver.Put(s, 1, "hot", "0");
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            ulong lastMod = 0;
            int reads = 0;
            while (!stop.IsCancellationRequested || reads == 0)
            {
                var entry = _driver.Machine.Get(Driver.Bytes("hot"));
                Assert.NotNull(entry);
                Assert.True(entry.Version.ModIndex >= lastMod, "a reader saw the version go backwards");
                lastMod = entry.Version.ModIndex;
                reads++;
            }
            return reads;
        })).ToArray();
        for (ulong i = 2; i < 2000; i++)
        {
            _driver.Put(s, i, "hot", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            _driver.Put(s, ++i, "filler-" + (i % 300), new string('x', 200));
        }
        stop.Cancel();
        Assert.All(await Task.WhenAll(readers), reads => Assert.True(reads > 0));
    }
}
