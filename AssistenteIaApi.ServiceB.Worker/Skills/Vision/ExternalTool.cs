using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>What a command printed and how it ended.</summary>
public sealed record ToolResult(int ExitCode, string StandardOutput, string StandardError);

/// <summary>A command the tool could not run to its end: not installed, or killed at its timeout.</summary>
public sealed class ToolFailedException(string tool, string reason, bool timedOut, Exception? inner = null)
    : Exception($"{tool}: {reason}", inner)
{
    public string Tool { get; } = tool;
    public bool TimedOut { get; } = timedOut;
}

/// <summary>
/// Runs a command-line tool on tenant input: arguments as a list (no shell, nothing to inject), a timeout after which
/// the whole process tree is killed, and the output it prints read up to a bound.
/// </summary>
public static class ExternalTool
{
    /// <summary>Tools here print a version, a page count or warnings; more than this is noise, and a hostile input's output is not kept.</summary>
    private const int MaxOutputChars = 64 * 1024;

    public static async Task<ToolResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new ToolFailedException(fileName, "could not be started (is it installed?)", timedOut: false, ex);
        }

        process.StandardInput.Close();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var stdout = ReadBoundedAsync(process.StandardOutput);
        var stderr = ReadBoundedAsync(process.StandardError);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new ToolFailedException(fileName, $"did not finish within {timeout} and was stopped", timedOut: true);
        }

        return new ToolResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Reads a stream to its end (so the process never blocks on a full pipe) and keeps its first characters.</summary>
    private static async Task<string> ReadBoundedAsync(StreamReader reader)
    {
        var kept = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            var room = MaxOutputChars - kept.Length;
            if (room > 0)
            {
                kept.Append(buffer, 0, Math.Min(room, read));
            }
        }

        return kept.ToString();
    }
}
