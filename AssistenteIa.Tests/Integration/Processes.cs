using System.Diagnostics;
using System.Globalization;

namespace AssistenteIa.Tests.Integration;

/// <summary>Signals to the services' processes: pause, resume, graceful stop.</summary>
public static class Processes
{
    /// <summary>The process id in a worker identity (<c>machine:pid:suffix</c>, as written in <c>Tasks.LockedBy</c>).</summary>
    public static int PidOf(string workerId) => int.Parse(workerId.Split(':')[1], CultureInfo.InvariantCulture);

    public static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {pid}") { RedirectStandardError = true })!;
        await kill.WaitForExitAsync();
        Assert.True(kill.ExitCode == 0, $"kill -{signal} {pid} failed: {await kill.StandardError.ReadToEndAsync()}");
    }
}
