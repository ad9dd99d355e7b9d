using System.Diagnostics;
using System.Globalization;

namespace AssistenteIa.Tests.Integration;

/// <summary>Commands and signals the tests send to this machine's processes: pause, resume, stop, server control.</summary>
public static class Processes
{
    /// <summary>The process id in a worker identity (<c>machine:pid:suffix</c>, as written in <c>Tasks.LockedBy</c>).</summary>
    public static int PidOf(string workerId) => int.Parse(workerId.Split(':')[1], CultureInfo.InvariantCulture);

    public static Task SignalAsync(int pid, string signal) => RunAsync("kill", $"-{signal} {pid}");

    /// <summary>
    /// Crashes a service (SIGKILL) started as an Aspire project resource: its resource process is the <c>dotnet run</c>
    /// launcher, so the service is the process at the bottom of the tree under it. The launcher then exits on its own,
    /// as it does when the service crashes, and the resource can be started again.
    /// </summary>
    public static async Task KillServiceAsync(int resourcePid)
    {
        var tree = new List<int> { resourcePid };
        for (var i = 0; i < tree.Count; i++)
        {
            tree.AddRange(ChildrenOf(tree[i]));
        }

        var leaves = tree.Where(pid => !ChildrenOf(pid).Any()).ToList();
        await RunAsync("kill", $"-KILL {string.Join(' ', leaves)}");
    }

    private static IEnumerable<int> ChildrenOf(int pid) =>
        Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(name => name is not null && name.All(char.IsAsciiDigit))
            .Select(name => (Pid: int.Parse(name!, CultureInfo.InvariantCulture), Stat: TryRead($"/proc/{name}/stat")))
            .Where(p => p.Stat is not null && ParentOf(p.Stat) == pid)
            .Select(p => p.Pid)
            .ToList();

    /// <summary>The 4th field of /proc/pid/stat, after the parenthesised command name (which may hold spaces).</summary>
    private static int ParentOf(string stat) =>
        int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Runs a command to its end (within 90 s) and fails the test, with its error output, when it fails.</summary>
    public static async Task RunAsync(string fileName, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(fileName, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var errors = process.StandardError.ReadToEndAsync(deadline.Token);
        await process.StandardOutput.ReadToEndAsync(deadline.Token);
        await process.WaitForExitAsync(deadline.Token);
        Assert.True(process.ExitCode == 0, $"{fileName} {arguments} failed: {await errors}");
    }
}
