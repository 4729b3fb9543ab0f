namespace RaftKv.StateMachine.Tests;

/// <summary>
/// FASTER's log holds every version of every key until it is compacted: a store that overwrites a small key space
/// must not grow with the writes, and compaction must not change what it holds.
/// </summary>
public sealed class LogCompactionTests : IDisposable
{
    private static readonly StateMachineOptions Options = Driver.SmallOptions with { CompactionMinimumLogBytes = 128 * 1024 };

    private const int Keys = 500;

    private readonly TempDirectory _temp = new();

    private readonly List<Driver> _stores = [];

    public void Dispose()
    {
        foreach (Driver store in _stores) store.Dispose();
        _temp.Dispose();
    }

    /// <summary>
    /// Overwrites 500 keys with 1 KiB values (more than the log's 256 KiB of memory, so most updates append rather
    /// than update in place), round after round; every 500 entries a snapshot measures the live data, then
    /// compaction runs, as the driver does.
    /// </summary>
    private static void Overwrite(Driver driver, ulong session, int rounds, bool compact, Action? afterEachBatch = null)
    {
        var random = new Random(11);
        ulong sequence = 0;
        for (int round = 0; round < rounds; round++)
        {
            for (int k = 0; k < Keys; k++)
            {
                byte[] value = new byte[1024];
                random.NextBytes(value);
                var command = (round + k) % 13 == 0
                    ? KvCommand.Delete(session, ++sequence, driver.NowMs, Driver.Bytes($"key-{k}"))
                    : KvCommand.Put(session, ++sequence, driver.NowMs, Driver.Bytes($"key-{k}"), value);
                driver.Submit(command);
                if (sequence % 500 == 0)
                {
                    driver.SnapshotBytes();
                    if (compact) driver.Machine.CompactLog();
                    afterEachBatch?.Invoke();
                }
            }
        }
    }

    /// <summary>Two stores in their own directories with the same first session registered (disposed with the test).</summary>
    private (Driver First, Driver Second, ulong Session) TwoStores(string first, string second)
    {
        var a = new Driver(_temp.Sub(first), Options);
        var b = new Driver(_temp.Sub(second), Options);
        _stores.Add(a);
        _stores.Add(b);
        ulong session = a.Register();
        Assert.Equal(session, b.Register());
        return (a, b, session);
    }

    [Fact]
    public void Overwriting_a_small_key_space_keeps_the_log_near_the_live_data_and_the_state_unchanged()
    {
        var (compacted, plain, session) = TwoStores("compacted", "plain");

        Overwrite(compacted, session, rounds: 30, compact: true);
        Overwrite(plain, session, rounds: 30, compact: false);

        // ~15 MB written over ~500 KiB of live data.
        Assert.True(plain.Machine.LogSizeBytes > 10L * 1024 * 1024, $"uncompacted log {plain.Machine.LogSizeBytes} bytes");
        Assert.True(compacted.Machine.LogSizeBytes < 3L * 1024 * 1024, $"compacted log {compacted.Machine.LogSizeBytes} bytes");
        // Same keys, values, versions and sessions: byte-identical canonical snapshots.
        Assert.Equal(plain.SnapshotBytes(), compacted.SnapshotBytes());
        for (int k = 0; k < Keys; k++) Assert.Equal(plain.GetString($"key-{k}"), compacted.GetString($"key-{k}"));
    }

    [Fact]
    public async Task A_checkpoint_after_compaction_deletes_the_old_log_files_and_recovers_the_same_state()
    {
        var (compacted, plain, session) = TwoStores("compacted", "plain");
        Overwrite(compacted, session, rounds: 30, compact: true);
        Overwrite(plain, session, rounds: 30, compact: false);
        Assert.True((await compacted.Machine.CheckpointAsync()).Succeeded);
        Assert.True((await plain.Machine.CheckpointAsync()).Succeeded);
        byte[] expected = plain.SnapshotBytes();

        // FASTER deletes the files below the begin address in the background once the checkpoint is durable.
        long plainFiles = DirectoryBytes(_temp.Sub("plain"));
        long compactedFiles = plainFiles;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((compactedFiles = DirectoryBytes(_temp.Sub("compacted"))) >= plainFiles / 3 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.True(compactedFiles < plainFiles / 3, $"compacted store {compactedFiles} bytes on disk, uncompacted {plainFiles}");

        compacted.Reopen();
        Assert.Equal(expected, compacted.SnapshotBytes());
    }

    [Fact]
    public async Task Compaction_waits_for_a_snapshot_image_and_a_snapshot_capture_stops_a_running_compaction()
    {
        using var driver = new Driver(_temp.Sub("store"), Options);
        ulong session = driver.Register();
        Overwrite(driver, session, rounds: 10, compact: false);
        driver.SnapshotBytes(); // measures the live data

        using (var image = driver.Machine.TakeSnapshot())
        {
            LogCompactionResult refused = driver.Machine.CompactLog();
            Assert.False(refused.Compacted);
            Assert.Contains("snapshot", refused.Reason, StringComparison.Ordinal);
        }

        // Compaction on another thread while this one applies, reads and captures snapshots: every capture must
        // equal the state a twin without compaction has at the same index.
        using var twin = new Driver(_temp.Sub("twin"), Options);
        Assert.Equal(session, twin.Register());
        Overwrite(twin, session, rounds: 10, compact: false);
        using var stop = new CancellationTokenSource();
        Task<int> compactor = CompactUntil(driver, stop.Token);
        try
        {
            var random = new Random(5);
            ulong sequence = 10_000;
            for (int i = 0; i < 3000; i++)
            {
                byte[] key = Driver.Bytes($"key-{random.Next(Keys)}");
                byte[] value = new byte[1024];
                random.NextBytes(value);
                var command = KvCommand.Put(session, ++sequence, driver.NowMs, key, value);
                Assert.Equal(twin.Submit(command), driver.Submit(command));
                if (i % 250 == 0) Assert.Equal(twin.SnapshotBytes(), driver.SnapshotBytes());
                Assert.Equal(twin.Machine.Get(key)!.Value.ToArray(), driver.Machine.Get(key)!.Value.ToArray());
            }
        }
        finally
        {
            stop.Cancel();
            await compactor;
        }
        Assert.True(await compactor > 0, "no compaction ran");
        Assert.Equal(twin.SnapshotBytes(), driver.SnapshotBytes());
    }

    [Fact]
    public async Task Reads_and_applies_that_go_to_disk_while_compaction_moves_the_log_find_every_live_key()
    {
        // A read of a record on disk waits for its I/O outside FASTER's epoch; compaction may copy that record to the
        // tail and move the log's begin address past it meanwhile. Such a read must still find the key (once it came
        // back "not found": an applied Put then recorded the key as new, a wrong create revision on one replica).
        using var driver = new Driver(_temp.Sub("store"), Options);
        ulong session = driver.Register();
        Overwrite(driver, session, rounds: 4, compact: false);
        int[] live = [.. Enumerable.Range(0, Keys).Where(k => driver.Machine.Get(Driver.Bytes($"key-{k}")) is not null)];
        driver.SnapshotBytes();
        using var stop = new CancellationTokenSource();
        int missing = 0;
        long reads = 0;
        Task<int> compactor = CompactUntil(driver, stop.Token);
        var readers = Enumerable.Range(0, 2).Select(r => Task.Run(() =>
        {
            var random = new Random(r);
            while (!stop.IsCancellationRequested)
            {
                if (driver.Machine.Get(Driver.Bytes($"key-{live[random.Next(live.Length)]}")) is null) Interlocked.Increment(ref missing);
                Interlocked.Increment(ref reads);
            }
        })).ToArray();
        try
        {
            // Overwrite live keys only (each Put reads the key's record first): a Put that found nothing creates.
            var random = new Random(7);
            ulong sequence = 100_000;
            for (int i = 0; i < 6000; i++)
            {
                int k = live[random.Next(live.Length)];
                byte[] value = new byte[1024];
                random.NextBytes(value);
                KvReply reply = driver.Submit(KvCommand.Put(session, ++sequence, driver.NowMs, Driver.Bytes($"key-{k}"), value));
                Assert.True(reply.Succeeded, reply.Message);
                Assert.NotEqual(reply.Version.ModIndex, reply.Version.CreateIndex);
                if (i % 500 == 0) driver.SnapshotBytes();
            }
        }
        finally
        {
            stop.Cancel();
            await compactor;
            await Task.WhenAll(readers);
        }
        Assert.True(await compactor > 0, "no compaction ran");
        Assert.True(reads > 0, "no read ran");
        Assert.Equal(0, missing);
    }

    [Fact]
    public async Task A_crash_after_compaction_but_before_the_next_checkpoint_recovers_the_previous_checkpoint()
    {
        var (compacted, twin, session) = TwoStores("compacted", "twin");
        Overwrite(compacted, session, rounds: 10, compact: false);
        Overwrite(twin, session, rounds: 10, compact: false);
        CheckpointResult checkpoint = await compacted.Machine.CheckpointAsync();
        Assert.True(checkpoint.Succeeded);
        byte[] atCheckpoint = twin.SnapshotBytes();

        // More writes, compaction (which moves the log's begin address past what the checkpoint needs), more writes,
        // then the process dies: no checkpoint records the compaction.
        var random = new Random(3);
        ulong sequence = 100_000;
        for (int i = 0; i < 6000; i++)
        {
            byte[] value = new byte[1024];
            random.NextBytes(value);
            compacted.Submit(KvCommand.Put(session, ++sequence, compacted.NowMs, Driver.Bytes($"key-{random.Next(Keys)}"), value));
            if (i == 4000)
            {
                compacted.SnapshotBytes();
                Assert.True(compacted.Machine.CompactLog().Compacted);
            }
        }
        compacted.Reopen();

        Assert.Equal(checkpoint.AppliedIndex, compacted.Machine.AppliedIndex);
        Assert.Equal(atCheckpoint, compacted.SnapshotBytes());
    }

    [Fact]
    public void Nothing_is_compacted_before_a_snapshot_has_measured_the_live_data()
    {
        using var driver = new Driver(_temp.Sub("store"), Options);
        driver.Register();
        LogCompactionResult result = driver.Machine.CompactLog();
        Assert.False(result.Compacted);
        Assert.Contains("no snapshot", result.Reason, StringComparison.Ordinal);
    }

    /// <summary>Compacts <paramref name="driver"/>'s log over and over on another thread until <paramref name="stop"/>; how many calls compacted.</summary>
    private static Task<int> CompactUntil(Driver driver, CancellationToken stop) => Task.Run(() =>
    {
        int compactions = 0;
        while (!stop.IsCancellationRequested)
        {
            if (driver.Machine.CompactLog().Compacted) compactions++;
        }
        return compactions;
    });

    /// <summary>Bytes of the files under <paramref name="path"/>; a file deleted while counting counts zero, a directory deleted meanwhile makes the count unknown (long.MaxValue).</summary>
    private static long DirectoryBytes(string path)
    {
        try
        {
            return new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f =>
            {
                try
                {
                    return f.Length;
                }
                catch (FileNotFoundException)
                {
                    return 0;
                }
            });
        }
        catch (DirectoryNotFoundException)
        {
            return long.MaxValue;
        }
    }
}
