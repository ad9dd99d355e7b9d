using System.Globalization;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// CPU time the system's parts spent, read from <c>/proc/&lt;pid&gt;/stat</c> (user + system): the three services by their
/// executables, Postgres and RabbitMQ by their process names, and this benchmark process. A rate on a shared 2-core
/// host moves with the others; the CPU each part spends per task says where a task's cost goes, and moves less.
/// A process that ended between two samples (a Postgres backend whose connection closed) is counted by its parent once
/// the parent has reaped it (<c>cutime</c> + <c>cstime</c>): the postmaster's reaped backends stay in the Postgres
/// figure. Read only for a part's processes whose parent is not of the part, so no child is counted twice.
/// </summary>
internal static class ProcessCpu
{
    /// <summary>The parts, in the order reported, and how a process is recognised as one of them.</summary>
    public static readonly (string Name, Func<string, string, bool> Is)[] Parts =
    [
        ("Api", (exe, _) => exe.EndsWith("/AssistenteIaApi", StringComparison.Ordinal)),
        ("ServiceB", (exe, _) => exe.EndsWith("/AssistenteIaApi.ServiceB.Worker", StringComparison.Ordinal)),
        ("ServiceC", (exe, _) => exe.EndsWith("/AssistenteIaApi.ServiceC.Worker", StringComparison.Ordinal)),
        ("Postgres", (_, name) => name == "postgres"),
        ("RabbitMq", (_, name) => name == "beam.smp"),
        ("Client", (_, _) => false),
    ];

    /// <summary>CPU time per part so far; null where there is no <c>/proc</c>.</summary>
    public static Dictionary<string, TimeSpan>? Sample()
    {
        if (!Directory.Exists("/proc/self"))
        {
            return null;
        }

        var processes = new List<(int Pid, string Part, Stat Stat)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var part = pid == Environment.ProcessId ? "Client" : PartOf(directory);
                if (part is not null)
                {
                    processes.Add((pid, part, Stat.Parse(File.ReadAllText(Path.Combine(directory, "stat")))));
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while it was read.
            }
        }

        var partOf = processes.ToDictionary(p => p.Pid, p => p.Part);
        var ticks = Parts.ToDictionary(p => p.Name, _ => 0L);
        foreach (var (_, part, stat) in processes)
        {
            ticks[part] += stat.Own + (partOf.GetValueOrDefault(stat.ParentPid) == part ? 0 : stat.ReapedChildren);
        }

        // USER_HZ: clock ticks of 10 ms on Linux.
        return ticks.ToDictionary(t => t.Key, t => TimeSpan.FromMilliseconds(t.Value * 10.0));
    }

    /// <summary>
    /// CPU ticks of the services' background JIT threads (".NET Tiered Compilation Worker", named ".NET Tiered Com" in
    /// <c>/proc</c>), by thread id, and of the services in all; null where there is no <c>/proc</c> or no service runs.
    /// The warm-up runs until these threads have little left to do. A thread that ended between two samples (it does
    /// after a few idle seconds) is missing from the later one, so a difference of two samples counts only threads alive
    /// at the second: a compiler that worked early in a round and then went idle long enough to end is missed, which
    /// a round of several seconds under load makes unlikely while it still has much to compile.
    /// </summary>
    public static CompilerSample? SampleCompiler()
    {
        if (!Directory.Exists("/proc/self"))
        {
            return null;
        }

        var compiler = new Dictionary<int, long>();
        var services = 0L;
        var found = false;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                continue;
            }

            try
            {
                if (PartOf(directory) is not ("Api" or "ServiceB" or "ServiceC"))
                {
                    continue;
                }

                services += Stat.Parse(File.ReadAllText(Path.Combine(directory, "stat"))).Own;
                found = true;
                foreach (var thread in Directory.EnumerateDirectories(Path.Combine(directory, "task")))
                {
                    try
                    {
                        var stat = File.ReadAllText(Path.Combine(thread, "stat"));
                        if (stat.Contains("(.NET Tiered Com", StringComparison.Ordinal))
                        {
                            compiler[int.Parse(Path.GetFileName(thread), CultureInfo.InvariantCulture)] = Stat.Parse(stat).Own;
                        }
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        // The thread ended while it was read.
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while it was read.
            }
        }

        return found ? new CompilerSample(compiler, services) : null;
    }

    /// <summary>
    /// The share of the services' CPU their background JIT threads took between two samples (0 to 1); null when the
    /// services spent nothing between them (none found, or one restarted).
    /// </summary>
    public static double? CompilerShare(CompilerSample before, CompilerSample after)
    {
        var compiler = after.Compiler.Sum(t => t.Value - before.Compiler.GetValueOrDefault(t.Key));
        var services = after.Services - before.Services;
        return services <= 0 ? null : Math.Clamp((double)compiler / services, 0, 1);
    }

    /// <summary>The background JIT threads' CPU ticks by thread id, and the services' CPU ticks in all.</summary>
    internal sealed record CompilerSample(Dictionary<int, long> Compiler, long Services);

    private static string? PartOf(string directory)
    {
        var name = File.ReadAllText(Path.Combine(directory, "comm")).TrimEnd('\n');
        var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
        var exe = commandLine.Split('\0', 2)[0];
        return Parts.FirstOrDefault(p => p.Is(exe, name)).Name;
    }

    /// <summary>A process's own CPU ticks (utime + stime) and those of its children it has reaped (cutime + cstime).</summary>
    internal readonly record struct Stat(int ParentPid, long Own, long ReapedChildren)
    {
        /// <summary>Fields counted after the name in parentheses (which may hold spaces): ppid 4, utime 14, stime 15, cutime 16, cstime 17.</summary>
        public static Stat Parse(string stat)
        {
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

            // fields[0] is field 3 (state).
            long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
            return new Stat((int)Field(4), Field(14) + Field(15), Field(16) + Field(17));
        }
    }
}
