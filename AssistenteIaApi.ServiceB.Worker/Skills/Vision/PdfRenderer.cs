using System.Globalization;
using System.Text.RegularExpressions;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>
/// Renders a tenant's PDF to PNG pages with poppler. <c>pdfinfo</c> counts the pages and gives their sizes first, so
/// a document over <see cref="VisionOptions.MaxPdfPages"/> is refused before any rendering; <c>pdftoppm</c> then
/// renders each page at <see cref="VisionOptions.PdfRenderDpi"/>, lowered for a page so large that its long side would
/// pass <see cref="VisionOptions.PdfPageLongSide"/> pixels: whatever size a page claims, its pixels are bounded.
/// </summary>
public sealed partial class PdfRenderer(IOptions<VisionOptions> options)
{
    /// <summary>Writes the PDF into <paramref name="workDirectory"/> and returns the paths of its rendered pages, in order.</summary>
    public async Task<IReadOnlyList<string>> RenderAsync(InputFile file, int index, string workDirectory, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var pdf = Path.Combine(workDirectory, $"input-{index + 1}.pdf");
        await File.WriteAllBytesAsync(pdf, file.Content, cancellationToken);

        var pages = await PageCountAsync(pdf, index, cancellationToken);
        if (pages > settings.MaxPdfPages)
        {
            throw Permanent("TooManyPages", $"Input {index + 1} has {pages} pages; PDFs of up to {settings.MaxPdfPages} pages are read. Split it into several tasks.");
        }

        var sizes = await PageSizesAsync(pdf, pages, index, cancellationToken);
        var rendered = new List<string>(pages);
        for (var page = 1; page <= pages; page++)
        {
            // The long side in pixels at the render resolution, never over PdfPageLongSide. Given as -scale-to, not as a
            // resolution: pdfinfo reports one page box and pdftoppm may render a larger one (a tiny CropBox over a huge
            // MediaBox), and -scale-to bounds the pixels whichever box is drawn.
            var longSide = (int)Math.Clamp(Math.Round(sizes[page - 1] * settings.PdfRenderDpi / 72.0), 1, settings.PdfPageLongSide);
            var target = Path.Combine(workDirectory, $"input-{index + 1}-page-{page}");
            var number = page.ToString(CultureInfo.InvariantCulture);
            var result = await RunAsync(
                settings.PdfToPpmPath,
                ["-png", "-singlefile", "-cropbox", "-f", number, "-l", number, "-scale-to", longSide.ToString(CultureInfo.InvariantCulture), pdf, target],
                cancellationToken);
            if (result.ExitCode != 0 || !File.Exists(target + ".png"))
            {
                throw Permanent("InvalidPdf", $"Input {index + 1}: page {page} of {pages} could not be rendered; the PDF is damaged.");
            }

            rendered.Add(target + ".png");
        }

        return rendered;
    }

    private async Task<int> PageCountAsync(string pdf, int index, CancellationToken cancellationToken)
    {
        var info = await RunAsync(options.Value.PdfInfoPath, [pdf], cancellationToken);
        var match = PagesLine().Match(info.StandardOutput);
        if (info.ExitCode != 0 || !match.Success || !int.TryParse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture, out var pages) || pages < 1)
        {
            throw Permanent("InvalidPdf", $"Input {index + 1} could not be opened as a PDF (damaged, empty or password-protected).");
        }

        return pages;
    }

    /// <summary>The long side of each page, in points.</summary>
    private async Task<double[]> PageSizesAsync(string pdf, int pages, int index, CancellationToken cancellationToken)
    {
        var info = await RunAsync(options.Value.PdfInfoPath, ["-f", "1", "-l", pages.ToString(CultureInfo.InvariantCulture), pdf], cancellationToken);
        var sizes = new double[pages];
        foreach (Match match in PageSizeLine().Matches(info.StandardOutput))
        {
            var page = int.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
            if (page >= 1 && page <= pages)
            {
                sizes[page - 1] = Math.Max(double.Parse(match.Groups[2].ValueSpan, CultureInfo.InvariantCulture), double.Parse(match.Groups[3].ValueSpan, CultureInfo.InvariantCulture));
            }
        }

        if (info.ExitCode != 0 || sizes.Any(s => s <= 0))
        {
            throw Permanent("InvalidPdf", $"Input {index + 1}: the size of its pages could not be read; the PDF is damaged.");
        }

        return sizes;
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

    [GeneratedRegex(@"^Pages:\s+(\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex PagesLine();

    [GeneratedRegex(@"^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+) pts", RegexOptions.Multiline)]
    private static partial Regex PageSizeLine();
}
