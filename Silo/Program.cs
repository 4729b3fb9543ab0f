using RaftKv.Silo;

// raftkv-silo: one Raft node per process.
//   dotnet run --project Silo -- local-cluster            start a local 3-node cluster (data under ./.raftkv)
//   dotnet run --project Silo -- --RaftKv:NodeId=1 ...   run one node (configuration: appsettings.json,
//                                                                    RaftKv__* environment variables, --RaftKv:* arguments)
if (args.Length > 0 && args[0] == "local-cluster")
{
    return await LocalCluster.RunAsync(args[1..]);
}
return await SiloHost.RunAsync(args);
