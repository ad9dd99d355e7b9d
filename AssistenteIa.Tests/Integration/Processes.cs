using System.Diagnostics;
using System.Globalization;

namespace AssistenteIa.Tests.Integration;

/// <summary>Commands and signals the tests send to this machine's processes: pause, resume, stop, server control.</summary>
public static class Processes
{
    /// <summary>The process id in a worker identity (<c>machine:pid:suffix</c>, as written in <c>Tasks.LockedBy</c>).</summary>
    public static int PidOf(string workerId) => int.Parse(workerId.Split(':')[1], CultureInfo.InvariantCulture);

    public static Task SignalAsync(int pid, string signal) => RunAsync("kill", $"-{signal} {pid}");

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
