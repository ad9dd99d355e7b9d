using System.Globalization;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>A box in pixels of the image it was found in (a PDF page as rendered, or the original image).</summary>
public sealed record Box(int X, int Y, int Width, int Height);

/// <param name="Confidence">0 to 1.</param>
/// <param name="Page">The page's number in the task: inputs in order, each image one page, each PDF its pages.</param>
public sealed record OcrWord(string Text, double Confidence, Box Box, int Page);

/// <summary>The text of one page and its words.</summary>
public sealed record OcrPage(string Text, IReadOnlyList<OcrWord> Words);

/// <summary>
/// Tesseract (Debian's tesseract-ocr) through its command line: one run per page writes the plain text and the TSV
/// of word boxes and confidences at once. Single-threaded per run (OMP_THREAD_LIMIT=1): the worker's own concurrency
/// decides how many pages are read at a time.
/// </summary>
public sealed class TesseractOcr(IOptions<VisionOptions> options)
{
    private static readonly Dictionary<string, string> Environment = new() { ["OMP_THREAD_LIMIT"] = "1" };

    private string? _model;

    /// <summary>E.g. <c>tesseract-5.3.0 (local)</c>, from <c>tesseract --version</c>, asked until it answers once.</summary>
    public async Task<string> ModelAsync(CancellationToken cancellationToken) => _model ??= await ReadVersionAsync(cancellationToken);

    public async Task<OcrPage> ReadAsync(string imagePath, IReadOnlyList<string> languages, int page, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var output = Path.Combine(Path.GetDirectoryName(imagePath)!, Path.GetFileNameWithoutExtension(imagePath) + "-ocr");
        List<string> arguments = [imagePath, output, "-l", string.Join('+', languages)];
        if (settings.TessdataDirectory is { Length: > 0 } tessdata)
        {
            arguments.AddRange(["--tessdata-dir", tessdata]);
        }

        arguments.AddRange(["txt", "tsv"]);
        var result = await RunAsync(arguments, cancellationToken);
        if (result.ExitCode != 0 || !File.Exists(output + ".tsv"))
        {
            // Our own PNGs are always readable: a failure here is the installation's (a missing language, say).
            throw new TaskExecutionException(ErrorKind.Transient, "OcrFailed", $"Tesseract failed (exit code {result.ExitCode}): {FirstLine(result.StandardError)}");
        }

        var text = (await File.ReadAllTextAsync(output + ".txt", cancellationToken)).Trim().Trim('\f').Trim();
        var words = ParseTsv(await File.ReadAllLinesAsync(output + ".tsv", cancellationToken), page);
        return new OcrPage(text, words);
    }

    /// <summary>The words (TSV level 5) with their text, box and confidence (Tesseract's 0–100 as 0–1).</summary>
    public static IReadOnlyList<OcrWord> ParseTsv(IEnumerable<string> lines, int page)
    {
        var words = new List<OcrWord>();
        foreach (var line in lines.Skip(1))
        {
            var columns = line.Split('\t');
            if (columns.Length < 12 || columns[0] != "5" || string.IsNullOrWhiteSpace(columns[11]))
            {
                continue;
            }

            int Int(int i) => int.Parse(columns[i], CultureInfo.InvariantCulture);
            var confidence = Math.Clamp(double.Parse(columns[10], CultureInfo.InvariantCulture) / 100, 0, 1);
            words.Add(new OcrWord(columns[11], Math.Round(confidence, 4), new Box(Int(6), Int(7), Int(8), Int(9)), page));
        }

        return words;
    }

    private async Task<string> ReadVersionAsync(CancellationToken cancellationToken)
    {
        var result = await RunAsync(["--version"], cancellationToken);
        var first = FirstLine(result.StandardOutput.Length > 0 ? result.StandardOutput : result.StandardError);
        var version = first.StartsWith("tesseract ", StringComparison.Ordinal) ? first["tesseract ".Length..].Trim() : "unknown";
        return $"tesseract-{version} (local)";
    }

    private async Task<ToolResult> RunAsync(IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        try
        {
            return await ExternalTool.RunAsync(settings.TesseractPath, arguments, settings.ToolTimeout, cancellationToken, Environment);
        }
        catch (ToolFailedException ex) when (ex.TimedOut)
        {
            throw new TaskExecutionException(ErrorKind.Transient, "OcrTimeout", $"Tesseract did not read a page within {settings.ToolTimeout}.", inner: ex);
        }
        catch (ToolFailedException ex)
        {
            throw new TaskExecutionException(ErrorKind.Transient, "OcrUnavailable", "Tesseract is not available on this worker.", inner: ex);
        }
    }

    private static string FirstLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
}
