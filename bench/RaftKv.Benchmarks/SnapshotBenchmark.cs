using System.Diagnostics;
using System.Globalization;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Benchmarks;

/// <summary>
/// The cost of one state-machine snapshot image (<see cref="FasterKvStateMachine.TakeSnapshot"/> and
/// <see cref="IStateMachineSnapshot.WriteTo"/>), which every node makes each time its Raft log passes
/// <c>SnapshotThresholdBytes</c>: a FASTER store filled with the cluster benchmark's key space (256 writers x 1000 keys,
/// 256-byte values, every key written twice so the log holds superseded records too), then the image written to a
/// null stream several times. Prints milliseconds per image, microseconds and bytes allocated per key.
/// </summary>
internal static class SnapshotBenchmark
{
    public static void Run(string[] args)
    {
        int keys = (int)BenchmarkArguments.Option(args, "--keys", 256_000);
        int rounds = (int)BenchmarkArguments.Option(args, "--rounds", 5);
        string directory = Path.Combine(Path.GetTempPath(), "raftkv-snapshot-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var machine = FasterKvStateMachine.Open(directory, new StateMachineOptions());
            ulong index = 0;
            Apply(machine, ref index, KvCommand.RegisterSession(0));
            ulong session = index;
            byte[] value = new byte[256];
            for (int pass = 0; pass < 2; pass++)
            {
                for (int k = 0; k < keys; k++)
                {
                    byte[] key = System.Text.Encoding.UTF8.GetBytes($"bench-{k / 1000}-{k % 1000}");
                    Apply(machine, ref index, KvCommand.Put(session, index, 0, key, value));
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"snapshot image of {keys:N0} keys (256-byte values, {2 * keys:N0} records in the log), {rounds} rounds after one warm-up:"));
            for (int round = 0; round <= rounds; round++)
            {
                long allocated = GC.GetTotalAllocatedBytes(precise: true);
                var clock = Stopwatch.StartNew();
                using (IStateMachineSnapshot image = machine.TakeSnapshot()) image.WriteTo(Stream.Null);
                clock.Stop();
                allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
                if (round == 0) continue;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {clock.Elapsed.TotalMilliseconds,7:F0} ms  {1000 * clock.Elapsed.TotalMilliseconds / keys,6:F2} us/key  {(double)allocated / keys,7:F0} bytes allocated/key"));
            }
        }
        finally
        {
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
        }
    }

    private static void Apply(FasterKvStateMachine machine, ref ulong index, KvCommand command)
    {
        index++;
        machine.Apply(LogEntry.Command(index, 1, command.Encode()));
    }
}
