using System.Globalization;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>
/// Renders a tenant's PDF to PNG pages with poppler: <c>pdfinfo</c> counts the pages first, so a document over
/// <see cref="VisionOptions.MaxPdfPages"/> is refused before any rendering; <c>pdftoppm</c> then scales every page to
/// <see cref="VisionOptions.PdfPageLongSide"/> pixels, whatever size the page claims, under the tool timeout.
/// </summary>
public sealed class PdfRenderer(IOptions<VisionOptions> options)
{
    /// <summary>Writes the PDF into <paramref name="workDirectory"/> and returns the paths of its rendered pages, in order.</summary>
    public async Task<IReadOnlyList<string>> RenderAsync(InputFile file, int index, string workDirectory, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var pdf = Path.Combine(workDirectory, $"input-{index + 1}.pdf");
        await File.WriteAllBytesAsync(pdf, file.Content, cancellationToken);

        var pages = await CountPagesAsync(pdf, index, cancellationToken);
        if (pages > settings.MaxPdfPages)
        {
            throw Permanent("TooManyPages", $"Input {index + 1} has {pages} pages; PDFs of up to {settings.MaxPdfPages} pages are read. Split it into several tasks.");
        }

        var prefix = Path.Combine(workDirectory, $"input-{index + 1}-page");
        var rendered = await RunAsync(
            settings.PdfToPpmPath,
            ["-png", "-f", "1", "-l", pages.ToString(CultureInfo.InvariantCulture), "-scale-to", settings.PdfPageLongSide.ToString(CultureInfo.InvariantCulture), pdf, prefix],
            cancellationToken);
        var files = Directory.GetFiles(workDirectory, $"input-{index + 1}-page-*.png").Order(StringComparer.Ordinal).ToList();
        if (rendered.ExitCode != 0 || files.Count != pages)
        {
            throw Permanent("InvalidPdf", $"Input {index + 1}: {files.Count} of its {pages} pages could be rendered; the PDF is damaged.");
        }

        return files;
    }

    private async Task<int> CountPagesAsync(string pdf, int index, CancellationToken cancellationToken)
    {
        var info = await RunAsync(options.Value.PdfInfoPath, [pdf], cancellationToken);
        var pages = info.StandardOutput.Split('\n')
            .Where(line => line.StartsWith("Pages:", StringComparison.Ordinal))
            .Select(line => int.TryParse(line["Pages:".Length..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0)
            .FirstOrDefault();
        if (info.ExitCode != 0 || pages < 1)
        {
            throw Permanent("InvalidPdf", $"Input {index + 1} could not be opened as a PDF (damaged, empty or password-protected).");
        }

        return pages;
    }

    private async Task<ToolResult> RunAsync(string tool, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        try
        {
            return await ExternalTool.RunAsync(tool, arguments, options.Value.ToolTimeout, cancellationToken);
        }
        catch (ToolFailedException ex) when (ex.TimedOut)
        {
            // Transient like every timeout (a busy worker is slower); a PDF built to be slow runs out of attempts.
            throw new TaskExecutionException(ErrorKind.Transient, "PdfTimeout", $"The PDF took longer than {options.Value.ToolTimeout} to read.", inner: ex);
        }
        catch (ToolFailedException ex)
        {
            throw new TaskExecutionException(ErrorKind.Transient, "OcrUnavailable", "The PDF renderer is not available on this worker.", inner: ex);
        }
    }

    private static TaskExecutionException Permanent(string code, string message) => new(ErrorKind.Permanent, code, message);
}
