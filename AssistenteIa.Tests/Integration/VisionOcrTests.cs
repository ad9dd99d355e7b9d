using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Tests.Vision;
using AssistenteIaApi.ServiceB.Worker.Skills.Vision;

namespace AssistenteIa.Tests.Integration;

/// <summary>Vision_OCR through the whole system with Tesseract: text the test drew is read back, with word boxes, from images and scanned PDFs.</summary>
[Collection(AppCollection.Name)]
public sealed class VisionOcrTests(AppFixture fixture)
{
    [Fact]
    public async Task Text_drawn_in_an_image_is_read_back_with_word_boxes_and_confidences()
    {
        using var client = fixture.CreateApiClient();
        var file = await TaskApi.UploadFileAsync(client, TestImages.TextPng("INVOICE 4821 PAID"), "invoice.png");

        var task = await RunAsync(client, new { inputs = new[] { new { fileId = file.Id } }, languages = new[] { "eng", "por" } });

        Assert.Equal(AiTaskStatus.Succeeded, task.Status);
        var artifacts = await TaskApi.ArtifactsAsync(client, task.Id);
        var text = Assert.Single(artifacts, a => a.Name == "text");
        Assert.Equal("INVOICE 4821 PAID", text.Content);

        var words = Words(artifacts);
        Assert.Equal(["INVOICE", "4821", "PAID"], words.Select(w => w.Text));
        Assert.All(words, w =>
        {
            Assert.Equal(1, w.Page);
            Assert.InRange(w.Confidence, 0.6, 1.0);
            Assert.True(w.Box.X >= 0 && w.Box.Y >= 0 && w.Box.Width > 0 && w.Box.Height > 0 && w.Box.X + w.Box.Width <= 1000 && w.Box.Y + w.Box.Height <= 200, $"box outside the 1000×200 image: {w.Box}");
        });
        // Left to right on one line, as drawn.
        Assert.True(words[0].Box.X + words[0].Box.Width <= words[1].Box.X && words[1].Box.X + words[1].Box.Width <= words[2].Box.X, string.Join(", ", words.Select(w => w.Box)));
        Assert.InRange(words.Max(w => w.Box.Y) - words.Min(w => w.Box.Y), 0, 20);

        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.StartsWith("tesseract-5.", attempt.Model);
        Assert.EndsWith("(local)", attempt.Model);
        Assert.Equal((1L, "pages", 0m), (attempt.Units, attempt.Unit, attempt.Cost));
    }

    [Fact]
    public async Task A_scanned_pdf_is_rendered_and_read_page_by_page_in_order()
    {
        using var client = fixture.CreateApiClient();
        using var first = TestImages.Text("TOTAL 1337 EUR");
        using var second = TestImages.Text("SIGNED BY ANA");
        var pdf = TestImages.ImageOnlyPdf([first, second]);
        var file = await TaskApi.UploadFileAsync(client, pdf, "scan.pdf");
        Assert.Equal("application/pdf", file.MediaType);
        var started = DateTime.UtcNow.AddSeconds(-1);

        var task = await RunAsync(client, new { inputs = new[] { new { fileId = file.Id } } });

        Assert.Equal(AiTaskStatus.Succeeded, task.Status);
        var artifacts = await TaskApi.ArtifactsAsync(client, task.Id);
        Assert.Equal(["TOTAL 1337 EUR", "SIGNED BY ANA"], Assert.Single(artifacts, a => a.Name == "text").Content!.Split('\f'));
        var words = Words(artifacts);
        Assert.Equal(["TOTAL", "1337", "EUR"], words.Where(w => w.Page == 1).Select(w => w.Text));
        Assert.Equal(["SIGNED", "BY", "ANA"], words.Where(w => w.Page == 2).Select(w => w.Text));
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal((2L, "pages"), (attempt.Units, attempt.Unit));

        // The PDF and its rendered pages were written to a scratch folder of the attempt, removed before it ended.
        Assert.DoesNotContain(new DirectoryInfo(Path.GetTempPath()).GetDirectories("assistenteia-ocr-*"), d => d.CreationTimeUtc >= started);
    }

    [Fact]
    public async Task Images_and_pdf_pages_of_several_inputs_are_numbered_as_one_sequence_of_pages()
    {
        using var client = fixture.CreateApiClient();
        using var page = TestImages.Text("SECOND INPUT");
        var pdf = await TaskApi.UploadFileAsync(client, TestImages.ImageOnlyPdf([page]), "second.pdf");

        var task = await RunAsync(client, new
        {
            inputs = new object[] { new { dataUri = TestImages.DataUri(TestImages.TextPng("FIRST INPUT"), "image/png") }, new { fileId = pdf.Id } },
        });

        Assert.Equal(AiTaskStatus.Succeeded, task.Status);
        var words = Words(await TaskApi.ArtifactsAsync(client, task.Id));
        Assert.Equal([("FIRST", 1), ("INPUT", 1), ("SECOND", 2), ("INPUT", 2)], words.Select(w => (w.Text, w.Page)));
        Assert.Equal(2L, Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).Units);
    }

    [Fact]
    public async Task A_damaged_image_is_a_permanent_error_and_is_not_retried()
    {
        using var client = fixture.CreateApiClient();
        var file = await TaskApi.UploadFileAsync(client, TestImages.CorruptPng(), "broken.png");

        var task = await RunAsync(client, new { inputs = new[] { new { fileId = file.Id } } }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "InvalidImage", units: 0);
    }

    [Fact]
    public async Task An_image_whose_header_claims_billions_of_pixels_is_refused_before_decoding()
    {
        using var client = fixture.CreateApiClient();

        var task = await RunAsync(client, new { inputs = new[] { new { dataUri = TestImages.DataUri(TestImages.PngClaiming(60_000, 60_000), "image/png") } } }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "ImageTooLarge", units: 0);
        Assert.Contains("60000×60000", task.LastError);
    }

    [Fact]
    public async Task A_pdf_over_the_page_limit_is_refused_without_reading_any_page()
    {
        using var client = fixture.CreateApiClient();
        using var page = TestImages.Text("PAGE", 300, 100);
        var pages = Enumerable.Repeat(page, new VisionOptions().MaxPdfPages + 1).ToList();
        var file = await TaskApi.UploadFileAsync(client, TestImages.ImageOnlyPdf(pages), "long.pdf");

        var task = await RunAsync(client, new { inputs = new[] { new { fileId = file.Id } } }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "TooManyPages", units: 0);
    }

    [Fact]
    public async Task A_damaged_pdf_is_a_permanent_error()
    {
        using var client = fixture.CreateApiClient();
        var file = await TaskApi.UploadFileAsync(client, "%PDF-1.4\nnothing that a PDF reader can use\n"u8.ToArray(), "broken.pdf");

        var task = await RunAsync(client, new { inputs = new[] { new { fileId = file.Id } } }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "InvalidPdf", units: 0);
    }

    [Fact]
    public async Task A_text_file_is_not_an_image_and_is_a_permanent_error()
    {
        using var client = fixture.CreateApiClient();

        // An uploaded text file is refused at POST (its type is known); a data URI's content is only read by the worker.
        var dataUri = "data:image/png;base64," + Convert.ToBase64String("INVOICE 4821"u8.ToArray());
        var task = await RunAsync(client, new { inputs = new[] { new { dataUri } } }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "UnsupportedInput", units: 0);
    }

    private static async Task<TaskDto> RunAsync(HttpClient client, object payload, int? maxAttempts = null)
    {
        var created = await TaskApi.CreateAsync(client, TaskApi.For("Vision_OCR", payload, domain: "DocumentProcessing", maxAttempts: maxAttempts));
        return await TaskApi.WaitForTerminalAsync(client, created.Id);
    }

    private static async Task AssertDeadLetteredOnceAsync(HttpClient client, TaskDto task, string errorCode, long units)
    {
        Assert.Equal(AiTaskStatus.DeadLetter, task.Status);
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal((AttemptStatus.Failed, errorCode), (attempt.Status, attempt.ErrorCode));
        Assert.Equal((units, "pages"), (attempt.Units, attempt.Unit));
        Assert.StartsWith("tesseract-", attempt.Model);
        Assert.Empty(await TaskApi.ArtifactsAsync(client, task.Id));
    }

    private static List<OcrWord> Words(List<TaskArtifactDto> artifacts)
    {
        var words = Assert.Single(artifacts, a => a.Name == "words");
        Assert.Equal("application/json", words.MediaType);
        return JsonSerializer.Deserialize<List<OcrWord>>(words.Content!, Json.Options)!;
    }
}
