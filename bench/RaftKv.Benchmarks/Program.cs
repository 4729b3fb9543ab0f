using RaftKv.Benchmarks;

// Release console benchmarks; each prints what it measured. Usage:
//   dotnet run -c Release --project bench/RaftKv.Benchmarks -- core [--seconds 5] [--batch 256] [--payload 128]
//   dotnet run -c Release --project bench/RaftKv.Benchmarks -- cluster [--seconds 5] [--failovers 10] [--in-flight 256] [--client grpc|orleans] [--no-wait-started]
//   (RAFTKV_TEST_PORTS=19000-19499 confines the silos' ports to a range)
//   dotnet run -c Release --project bench/RaftKv.Benchmarks -- snapshot [--keys 256000] [--rounds 5]
string command = args.Length > 0 ? args[0] : "core";
switch (command)
{
    case "core":
        CoreThroughput.Run(args.Skip(1).ToArray());
        return 0;
    case "cluster":
        await ClusterBenchmark.RunAsync(args.Skip(1).ToArray());
        return 0;
    case "snapshot":
        SnapshotBenchmark.Run(args.Skip(1).ToArray());
        return 0;
    default:
        Console.Error.WriteLine($"unknown benchmark '{command}'; available: core, cluster, snapshot");
        return 2;
}
