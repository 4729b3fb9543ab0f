using RaftKv.Raft;
using RaftKv.Storage.FileSystem;
using RaftKv.Storage.Wal;

namespace RaftKv.Storage.Tests;

/// <summary>
/// Seeded swarm test: Raft-shaped writes (appends, conflicting suffixes, hard states, compactions, installed
/// snapshots) against a naive in-memory model, with crashes between operations and I/O failures at any point
/// inside them. Replay a failure with its seed.
/// </summary>
public sealed class WalSimulatedCrashTests
{
    private sealed record Model(HardState HardState, SnapshotMetadata? Snapshot, List<LogEntry> Entries)
    {
        public ulong BaseIndex => Snapshot?.Index ?? 0;

        public ulong LastIndex => BaseIndex + (ulong)Entries.Count;

        public static Model Of(WriteAheadLog wal) => new(wal.HardState, wal.Snapshot, TestLog.AllEntries(wal).ToList());
    }

    [Theory]
    [InlineData(1UL, 40UL)]
    [InlineData(41UL, 80UL)]
    [InlineData(1000UL, 1600UL)]
    public void Every_acknowledged_write_survives_crashes_at_any_point(ulong firstSeed, ulong lastSeed)
    {
        for (ulong seed = firstSeed; seed <= lastSeed; seed++)
        {
            try
            {
                RunSeed(seed);
            }
            catch (WalCorruptionException e)
            {
                Assert.Fail($"seed {seed}: {e.Message}");
            }
        }
    }

    private static void RunSeed(ulong seed)
    {
        var random = new DeterministicRandom(seed);
        var fs = new SimulatedFileSystem(new DeterministicRandom(seed * 31 + 7), new SimulatedFileSystemOptions
        {
            TornWriteProbability = 0.7,
            ZeroFilledTearProbability = 0.3,
            LoseUnsyncedDirectoryOperations = random.Chance(0.8),
        });
        var options = new WalOptions { SegmentSizeBytes = 1024 + random.Next(0, 3000) };
        WriteAheadLog wal = WriteAheadLog.Open(fs, TestLog.Directory, options);
        var model = new Model(HardState.Empty, null, []);
        ulong term = 1;
        for (int step = 0; step < 150; step++)
        {
            string context = $"seed {seed} step {step}";
            if (Environment.GetEnvironmentVariable("WAL_TRACE_SEED") == seed.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                Console.WriteLine($"{context}: last {model.LastIndex} base {model.BaseIndex} segments [{string.Join(",", TestLog.SegmentFiles(fs).Select(n => n.TrimStart('0')))}]");
            }
            bool injectFailure = random.Chance(0.12);
            if (injectFailure)
            {
                fs.FailAfterOperations(random.Next(0, 6));
            }
            Model before = model;
            // What recovery may show if this call fails: it was never acknowledged, so either the state before it or
            // the state after it with a prefix of its records applied; never a lost acknowledged entry or an invented one.
            Func<Model, bool> acceptableAfterFailure = _ => false;
            try
            {
                if (random.Next(0, 100) < 65 || model.Entries.Count == 0)
                {
                    // Append, sometimes overwriting a conflicting suffix with a newer term.
                    ulong from = model.LastIndex + 1;
                    if (model.Entries.Count > 0 && random.Chance(0.2))
                    {
                        from = model.BaseIndex + 1 + (ulong)random.Next(0, model.Entries.Count);
                        term++;
                    }
                    // A conflicting suffix is only replaced by at least one entry; an empty batch truncates nothing.
                    int count = random.Next(from <= model.LastIndex ? 1 : 0, 12);
                    List<LogEntry> entries = TestLog.Entries(from, from + (ulong)count - 1, term, random.Next(0, 300));
                    HardState? hardState = random.Chance(0.4) ? new HardState(term, (ulong)random.Next(0, 4), model.LastIndex / 2) : null;
                    int kept = (int)(from - 1 - model.BaseIndex);
                    var after = new Model(hardState ?? model.HardState, model.Snapshot, [.. model.Entries.Take(kept), .. entries]);
                    acceptableAfterFailure = r => r.Snapshot == before.Snapshot
                        && (r.HardState == before.HardState || r.HardState == after.HardState)
                        && (SameLog(r.Entries, before.Entries) || (IsPrefix(r.Entries, after.Entries) && r.Entries.Count >= kept));
                    model = after;
                    wal.Save(hardState, entries);
                }
                else if (random.Chance(0.6))
                {
                    // The local state machine snapshotted through an entry the log holds.
                    ulong index = model.BaseIndex + 1 + (ulong)random.Next(0, model.Entries.Count);
                    var snapshot = new SnapshotMetadata(index, model.Entries[(int)(index - model.BaseIndex - 1)].Term, TestLog.Configuration);
                    var after = model with { Snapshot = snapshot, Entries = model.Entries.Skip((int)(index - model.BaseIndex)).ToList() };
                    acceptableAfterFailure = r => r.HardState == before.HardState
                        && ((r.Snapshot == after.Snapshot && SameLog(r.Entries, after.Entries))
                            || (r.Snapshot == before.Snapshot && SameLog(r.Entries, before.Entries)));
                    model = after;
                    Assert.Equal(SnapshotBoundaryOutcome.RetainedSuffix, wal.CompactTo(snapshot));
                }
                else
                {
                    // A snapshot from a leader of a newer term: it never matches, so the whole log is discarded.
                    term++;
                    ulong index = model.BaseIndex + 1 + (ulong)random.Next(0, model.Entries.Count + 20);
                    var snapshot = new SnapshotMetadata(index, term, TestLog.Configuration);
                    var after = model with { Snapshot = snapshot, Entries = [] };
                    int kept = (int)Math.Min((ulong)model.Entries.Count, index - model.BaseIndex);
                    acceptableAfterFailure = r => r.HardState == before.HardState
                        && ((r.Snapshot == after.Snapshot && r.Entries.Count == 0)
                            || (r.Snapshot == before.Snapshot && IsPrefix(r.Entries, before.Entries) && r.Entries.Count >= kept));
                    model = after;
                    Assert.Equal(SnapshotBoundaryOutcome.DiscardedLog, wal.InstallSnapshot(snapshot));
                }
                if (!injectFailure && random.Chance(0.08))
                {
                    wal.Dispose();
                    fs.Crash();
                    wal = WriteAheadLog.Open(fs, TestLog.Directory, options);
                    AssertSame(model, Model.Of(wal), context + " (crash between operations)");
                }
            }
            catch (IOException)
            {
                Assert.True(injectFailure, context + ": unexpected I/O error");
                wal.Dispose();
                fs.Crash();
                wal = WriteAheadLog.Open(fs, TestLog.Directory, options);
                Model recovered = Model.Of(wal);
                Assert.True(acceptableAfterFailure(recovered),
                    $"{context}: recovered hs={recovered.HardState} {recovered.Snapshot} log {Describe(recovered.Entries)}; before {Describe(before.Entries)} {before.Snapshot}, attempted {Describe(model.Entries)} {model.Snapshot}");
                model = recovered;
            }
            fs.FailAfterOperations(long.MaxValue);
        }
        wal.Dispose();
        fs.Crash();
        using WriteAheadLog final = WriteAheadLog.Open(fs, TestLog.Directory, options);
        AssertSame(model, Model.Of(final), $"seed {seed} final");
    }

    private static void AssertSame(Model expected, Model actual, string context)
    {
        Assert.True(expected.HardState == actual.HardState, $"{context}: hard state {actual.HardState}, expected {expected.HardState}");
        Assert.True(expected.Snapshot == actual.Snapshot, $"{context}: snapshot {actual.Snapshot}, expected {expected.Snapshot}");
        Assert.True(SameLog(expected.Entries, actual.Entries), $"{context}: log {Describe(actual.Entries)}, expected {Describe(expected.Entries)}");
    }

    private static string Describe(List<LogEntry> entries) =>
        entries.Count == 0 ? "empty" : $"{entries[0].Index}..{entries[^1].Index} ({entries.Count})";

    private static bool SameEntry(LogEntry a, LogEntry b) =>
        a.Index == b.Index && a.Term == b.Term && a.Type == b.Type && a.Data.Span.SequenceEqual(b.Data.Span);

    private static bool SameLog(List<LogEntry> a, List<LogEntry> b) => a.Count == b.Count && IsPrefix(a, b);

    private static bool IsPrefix(List<LogEntry> prefix, List<LogEntry> of)
    {
        if (prefix.Count > of.Count)
        {
            return false;
        }
        for (int i = 0; i < prefix.Count; i++)
        {
            if (!SameEntry(prefix[i], of[i]))
            {
                return false;
            }
        }
        return true;
    }
}
