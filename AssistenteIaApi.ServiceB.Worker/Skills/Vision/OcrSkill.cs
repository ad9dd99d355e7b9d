using AssistenteIa.Application;
using AssistenteIa.Application.Files;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.Extensions.Options;
using OpenCvSharp;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>
/// Vision_OCR: the text of images and PDF pages. Locally (the default) with Tesseract: the text artifact <c>text</c>
/// (pages separated by a form feed) and the JSON artifact <c>words</c>, each word with its confidence (0–1), its box in
/// pixels of its page and its page number. With <c>Vision:Engine=Model</c>, the vision model transcribes each page:
/// <c>text</c> only, since a chat model gives no reliable word boxes. One unit per page read (an image is one page).
/// </summary>
public sealed class OcrSkill(
    TaskInputReader inputs,
    ImageDecoder images,
    PdfRenderer pdfs,
    TesseractOcr tesseract,
    VisionModel model,
    IOptions<VisionOptions> options,
    IOptions<AiOptions> ai,
    ILogger<OcrSkill> logger) : ITaskSkill
{
    public const string Unit = "pages";

    public CapabilityType Capability => CapabilityType.Vision_OCR;

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var useModel = options.Value.Engine == VisionEngine.Model;
        var meter = new UsageMeter(useModel ? request.Payload.Model ?? ai.Value.DefaultModel : await tesseract.ModelAsync(cancellationToken), Unit);
        var languages = request.Payload.Languages is { Count: > 0 } asked
            ? asked.Select(l => l.ToLowerInvariant()).Distinct().ToList()
            : ["eng"];

        return await meter.MeasureAsync(
            async () =>
            {
                var files = await inputs.ReadAsync(request, cancellationToken);
                var work = Directory.CreateTempSubdirectory("assistenteia-ocr-");
                try
                {
                    var pages = await PreparePagesAsync(files, work.FullName, cancellationToken);
                    return useModel
                        ? await ReadWithModelAsync(request, pages, languages, meter, cancellationToken)
                        : await ReadLocallyAsync(pages, languages, meter, cancellationToken);
                }
                finally
                {
                    TemporaryFiles.Delete(work, logger);
                }
            },
            cancellationToken);
    }

    /// <summary>
    /// Every input as PNG page files, checked before any page is read: a damaged or unsupported input fails the
    /// attempt before anything is spent. Images are decoded and re-encoded, so Tesseract only ever opens PNGs we wrote.
    /// </summary>
    private async Task<List<string>> PreparePagesAsync(IReadOnlyList<InputFile> files, string work, CancellationToken cancellationToken)
    {
        for (var i = 0; i < files.Count; i++)
        {
            if (files[i].MediaType != MediaTypes.Pdf)
            {
                images.Check(files[i], i);
            }
        }

        var pages = new List<string>();
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            if (file.MediaType == MediaTypes.Pdf)
            {
                pages.AddRange(await pdfs.RenderAsync(file, i, work, cancellationToken));
                continue;
            }

            using var image = images.Decode(file, i);
            var path = Path.Combine(work, $"input-{i + 1}.png");
            await File.WriteAllBytesAsync(path, ImageDecoder.EncodePng(image), cancellationToken);
            pages.Add(path);
        }

        return pages;
    }

    private async Task<ExecutionResult> ReadLocallyAsync(IReadOnlyList<string> pages, IReadOnlyList<string> languages, UsageMeter meter, CancellationToken cancellationToken)
    {
        var texts = new List<string>();
        var words = new List<OcrWord>();
        for (var i = 0; i < pages.Count; i++)
        {
            var page = await tesseract.ReadAsync(pages[i], languages, i + 1, cancellationToken);
            meter.CountUnit();
            texts.Add(page.Text);
            words.AddRange(page.Words);
        }

        return new ExecutionResult([ArtifactOutput.Text(string.Join('\f', texts), "text"), ArtifactOutput.Json("words", words)], meter.Usage);
    }

    private async Task<ExecutionResult> ReadWithModelAsync(
        ExecutionRequest request, IReadOnlyList<string> pages, IReadOnlyList<string> languages, UsageMeter meter, CancellationToken cancellationToken)
    {
        var texts = new List<string>();
        foreach (var path in pages)
        {
            using var page = Cv2.ImRead(path, ImreadModes.Color);
            var (fitted, _) = ImageDecoder.FitWithin(page, options.Value.ModelImageMaxSide);
            using (fitted)
            {
                var answer = await model.TranscribeAsync(request, ImageDecoder.EncodePng(fitted), languages, cancellationToken);
                meter.Add(answer.Usage);
                meter.CountUnit();
                texts.Add(answer.Text.Trim());
            }
        }

        return new ExecutionResult([ArtifactOutput.Text(string.Join('\f', texts), "text")], meter.Usage);
    }
}
