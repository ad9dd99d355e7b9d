using System.Globalization;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// CPU time the system's parts spent, read from <c>/proc/&lt;pid&gt;/stat</c> (user + system): the three services by their
/// executables, Postgres and RabbitMQ by their process names, and this benchmark process. A rate on a shared 2-core
/// host moves with the others; the CPU each part spends per task says where a task's cost goes, and moves less.
/// A process that ends between two samples (a Postgres backend whose connection closed) takes its time with it, so a
/// part's figure is a lower bound; the services' pools keep their connections open during a step.
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

        var ticks = Parts.ToDictionary(p => p.Name, _ => 0L);
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
                    ticks[part] += Ticks(File.ReadAllText(Path.Combine(directory, "stat")));
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended while it was read.
            }
        }

        // USER_HZ: clock ticks of 10 ms on Linux.
        return ticks.ToDictionary(t => t.Key, t => TimeSpan.FromMilliseconds(t.Value * 10.0));
    }

    private static string? PartOf(string directory)
    {
        var name = File.ReadAllText(Path.Combine(directory, "comm")).TrimEnd('\n');
        var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline"));
        var exe = commandLine.Split('\0', 2)[0];
        return Parts.FirstOrDefault(p => p.Is(exe, name)).Name;
    }

    /// <summary>utime + stime: fields 14 and 15, counted after the name in parentheses (which may hold spaces).</summary>
    private static long Ticks(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

        // fields[0] is field 3 (state): utime is field 14, stime 15.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }
}
