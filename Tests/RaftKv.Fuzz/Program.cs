using RaftKv.Fuzz;
using SharpFuzz;

// RaftKv.Fuzz <target>                      run <target> under AFL++ (fuzz.sh starts it; reads inputs from AFL)
// RaftKv.Fuzz list                          the targets and what each fuzzes
// RaftKv.Fuzz seeds <corpus-dir>            write each target's seed inputs into <corpus-dir>/<target>/
// RaftKv.Fuzz replay <target> <path>...     run files (or every file in directories) through <target>, uninstrumented

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: RaftKv.Fuzz <target> | list | seeds <corpus-dir> | replay <target> <path>...");
    return 2;
}
switch (args[0])
{
    case "list":
        foreach (FuzzTarget target in FuzzTargets.All)
        {
            Console.WriteLine($"{target.Name,-16} {target.Description}");
        }
        return 0;
    case "seeds" when args.Length == 2:
        foreach (FuzzTarget target in FuzzTargets.All)
        {
            string directory = Path.Combine(args[1], target.Name);
            Directory.CreateDirectory(directory);
            foreach ((string name, byte[] bytes) in target.Seeds())
            {
                File.WriteAllBytes(Path.Combine(directory, "seed-" + name), bytes);
            }
        }
        return 0;
    case "replay" when args.Length >= 3:
    {
        FuzzTarget target = FuzzTargets.Get(args[1]);
        IEnumerable<string> files = args.Skip(2).SelectMany<string, string>(path => Directory.Exists(path) ? Directory.EnumerateFiles(path).Order(StringComparer.Ordinal) : [path]);
        foreach (string file in files)
        {
            // An unexpected exception escapes here with its stack trace, as it would under AFL++.
            Console.WriteLine($"{target.Execute(File.ReadAllBytes(file)),-8} {file}");
        }
        return 0;
    }
    default:
    {
        FuzzTarget target = FuzzTargets.Get(args[0]);
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target.Execute(buffer.ToArray());
        });
        return 0;
    }
}
