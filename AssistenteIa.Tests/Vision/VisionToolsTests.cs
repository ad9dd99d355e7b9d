using System.Diagnostics;
using AssistenteIaApi.ServiceB.Worker.Skills.Vision;
using OpenCvSharp;

namespace AssistenteIa.Tests.Vision;

/// <summary>The guards around tenant images and the tools that read them, without the rest of the system.</summary>
public sealed class VisionToolsTests
{
    [Theory]
    [InlineData(".png")]
    [InlineData(".jpg")]
    [InlineData(".gif")]
    [InlineData(".bmp")]
    [InlineData(".tiff")]
    [InlineData(".webp")]
    public void The_size_an_image_declares_is_read_from_its_header(string format)
    {
        using var image = new Mat(45, 123, MatType.CV_8UC3, Scalar.White);
        Cv2.ImEncode(format, image, out var bytes);

        Assert.Equal((123L, 45L), ImageDecoder.DeclaredSize(bytes));
    }

    [Fact]
    public void An_image_bomb_declares_its_size_before_anything_is_decoded() =>
        Assert.Equal((60_000L, 70_000L), ImageDecoder.DeclaredSize(TestImages.PngClaiming(60_000, 70_000)));

    [Fact]
    public void Bytes_that_are_no_image_declare_no_size() =>
        Assert.Null(ImageDecoder.DeclaredSize(TestImages.CorruptPng()));

    [Fact]
    public void Tesseract_tsv_gives_the_words_with_their_boxes_and_confidences_from_0_to_1()
    {
        string[] tsv =
        [
            "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext",
            "1\t1\t0\t0\t0\t0\t0\t0\t1000\t200\t-1\t",
            "4\t1\t1\t1\t1\t0\t27\t64\t735\t60\t-1\t",
            "5\t1\t1\t1\t1\t1\t27\t64\t287\t60\t94.929344\tINVOICE",
            "5\t1\t1\t1\t1\t2\t360\t64\t177\t60\t95.5\t4821",
            "5\t1\t1\t1\t1\t3\t600\t64\t10\t60\t-1\t ",
        ];

        var words = TesseractOcr.ParseTsv(tsv, page: 3);

        Assert.Equal(
            [new OcrWord("INVOICE", 0.9493, new Box(27, 64, 287, 60), 3), new OcrWord("4821", 0.955, new Box(360, 64, 177, 60), 3)],
            words);
    }

    [Fact]
    public async Task Pdf_pages_are_rendered_at_their_scan_resolution()
    {
        using var first = TestImages.Text("ONE");
        using var second = new Mat(600, 400, MatType.CV_8UC3, Scalar.White);
        var pdf = TestImages.ImageOnlyPdf([first, second], dpi: 300);

        var pages = await RenderAsync(pdf);

        Assert.Equal([(1000, 200), (400, 600)], pages);
    }

    [Fact]
    public async Task A_pdf_page_claiming_to_be_huge_is_rendered_at_a_bounded_size()
    {
        using var page = new Mat(100, 100, MatType.CV_8UC3, Scalar.White);
        // 100 pixels at 0.5 dpi: a page of 200 × 200 inches.
        var pdf = TestImages.ImageOnlyPdf([page], dpi: 0.5);

        var (width, height) = Assert.Single(await RenderAsync(pdf));

        Assert.Equal(new VisionOptions().PdfPageLongSide, Math.Max(width, height), tolerance: 2);
    }

    [Fact]
    public async Task A_small_crop_box_over_a_huge_media_box_does_not_render_the_media_box()
    {
        using var page = new Mat(100, 100, MatType.CV_8UC3, Scalar.White);
        // A 200 × 200 inch MediaBox (60,000 px at 300 dpi) behind a 10-point CropBox.
        var pdf = TestImages.ImageOnlyPdf([page], dpi: 0.5, cropBoxPoints: 10);

        var (width, height) = Assert.Single(await RenderAsync(pdf));

        Assert.InRange(Math.Max(width, height), 1, new VisionOptions().PdfPageLongSide);
    }

    [Fact]
    public async Task A_tool_that_outlives_its_timeout_is_killed_with_its_children()
    {
        var pidFile = Path.GetTempFileName();
        try
        {
            var clock = Stopwatch.StartNew();

            var error = await Assert.ThrowsAsync<ToolFailedException>(() => ExternalTool.RunAsync(
                "/bin/sh", ["-c", $"sleep 300 & echo $! > '{pidFile}'; wait"], TimeSpan.FromMilliseconds(500), CancellationToken.None));

            Assert.True(error.TimedOut);
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(20));
            var child = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            await Integration.Eventually.UntilAsync(() => Task.FromResult(IsGone(child)), gone => gone, TimeSpan.FromSeconds(10), $"the child process {child} to end");
        }
        finally
        {
            File.Delete(pidFile);
        }
    }

    [Fact]
    public async Task A_tool_that_is_not_installed_fails_without_timing_out()
    {
        var error = await Assert.ThrowsAsync<ToolFailedException>(() => ExternalTool.RunAsync(
            "/nonexistent/tesseract", ["--version"], TimeSpan.FromSeconds(5), CancellationToken.None));

        Assert.False(error.TimedOut);
    }

    [Fact]
    public async Task Arguments_reach_the_tool_as_they_are_without_a_shell()
    {
        var result = await ExternalTool.RunAsync("/bin/echo", ["$(id)", "; rm -rf /", "a b"], TimeSpan.FromSeconds(5), CancellationToken.None);

        Assert.Equal((0, "$(id) ; rm -rf / a b\n"), (result.ExitCode, result.StandardOutput));
    }

    private static async Task<List<(int Width, int Height)>> RenderAsync(byte[] pdf)
    {
        var work = Directory.CreateTempSubdirectory("vision-test-");
        try
        {
            var renderer = new PdfRenderer(Microsoft.Extensions.Options.Options.Create(new VisionOptions()));
            var paths = await renderer.RenderAsync(new AssistenteIaApi.ServiceB.Worker.Skills.InputFile("scan.pdf", "application/pdf", pdf), 0, work.FullName, CancellationToken.None);
            return paths.Select(path =>
            {
                using var image = Cv2.ImRead(path);
                return (image.Width, image.Height);
            }).ToList();
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>Gone, or a zombie waiting for a parent that no longer exists to reap it.</summary>
    private static bool IsGone(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            var fields = File.ReadAllText(stat);
            return fields[(fields.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return true;
        }
    }
}
