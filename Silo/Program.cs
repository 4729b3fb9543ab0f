using RaftKv.Silo;

// raftkv-silo: one Raft node per process.
//   dotnet run --project Silo -- local-cluster            start a local 3-node cluster (data under ./.raftkv)
//   dotnet RaftKv.Silo.dll health                         exit 0 when this node's gateway answers and knows a leader
//   dotnet run --project Silo -- --RaftKv:NodeId=1 ...   run one node (configuration: appsettings.json,
//                                                                    RaftKv__* environment variables, --RaftKv:* arguments)
if (args.Length > 0 && args[0] == "health")
{
    return await HealthProbe.RunAsync(args[1..]); // container / service health check: see HealthProbe
}
if (args.Length > 0 && args[0] == "local-cluster")
{
    return await LocalCluster.RunAsync(args[1..]);
}
int exitCode = await SiloHost.RunAsync(args);
// The host is stopped and disposed (the node's WAL and FASTER store are closed). Exit now rather than return: a
// foreground thread left by a dependency (Orleans' watchdog thread is the likely one) otherwise kept the process alive
// about 1.1 s after Main returned, measured with bench/RaftKv.LifecycleBench.
Environment.Exit(exitCode);
return exitCode;
