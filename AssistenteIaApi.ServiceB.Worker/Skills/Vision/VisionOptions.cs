using System.ComponentModel.DataAnnotations;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>Who reads the images: the local tools (Tesseract, OpenCV) or the configured OpenAI-compatible vision model.</summary>
public enum VisionEngine
{
    Local,
    Model,
}

/// <summary>Section <c>Vision</c>: the tools behind Vision_OCR and Vision_ObjectDetection, and the limits that keep tenant images harmless.</summary>
public sealed class VisionOptions : IValidatableObject
{
    public const string Section = "Vision";

    /// <summary><c>Local</c> (default): Tesseract and OpenCV on this machine. <c>Model</c>: the OpenAI-compatible model of <c>Ai</c>, which must be an OpenAI provider.</summary>
    public VisionEngine Engine { get; set; } = VisionEngine.Local;

    /// <summary>The <c>tesseract</c> command (Debian's tesseract-ocr).</summary>
    [Required]
    public string TesseractPath { get; set; } = "tesseract";

    /// <summary>A tessdata folder to use instead of Tesseract's own (passed as <c>--tessdata-dir</c>).</summary>
    public string? TessdataDirectory { get; set; }

    /// <summary>poppler's <c>pdfinfo</c>, which counts a PDF's pages before anything is rendered.</summary>
    [Required]
    public string PdfInfoPath { get; set; } = "pdfinfo";

    /// <summary>poppler's <c>pdftoppm</c>, which renders PDF pages to PNG for Tesseract.</summary>
    [Required]
    public string PdfToPpmPath { get; set; } = "pdftoppm";

    /// <summary>How long one run of a tool (tesseract on a page, pdftoppm on a document) may take before it is killed.</summary>
    public TimeSpan ToolTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A PDF with more pages is refused, not read in part.</summary>
    [Range(1, 500)]
    public int MaxPdfPages { get; set; } = 20;

    /// <summary>The resolution PDF pages are rendered at for Tesseract (300 dpi is what scanners and Tesseract are made for).</summary>
    [Range(72, 600)]
    public int PdfRenderDpi { get; set; } = 300;

    /// <summary>The longest side, in pixels, of a rendered PDF page: larger pages are rendered at a lower resolution (4200 is US Legal at 300 dpi).</summary>
    [Range(500, 10_000)]
    public int PdfPageLongSide { get; set; } = 4200;

    /// <summary>An image whose header declares more pixels is refused before it is decoded (image bombs).</summary>
    [Range(1_000, 200_000_000)]
    public long MaxImagePixels { get; set; } = 40_000_000;

    /// <summary>Debian's opencv-data Haar cascades.</summary>
    [Required]
    public string CascadesDirectory { get; set; } = "/usr/share/opencv4/haarcascades";

    /// <summary>Larger images are scaled down to this long side before detection (and for the annotated copy); boxes are given in the original's pixels.</summary>
    [Range(200, 8_000)]
    public int DetectionMaxSide { get; set; } = 1600;

    /// <summary>How many overlapping cascade hits a detection needs; more means fewer false positives and more misses.</summary>
    [Range(1, 50)]
    public int MinNeighbors { get; set; } = 4;

    /// <summary>Images sent to the vision model are scaled down to this long side (providers downscale anyway and charge by size).</summary>
    [Range(256, 8_000)]
    public int ModelImageMaxSide { get; set; } = 2048;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ToolTimeout <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Vision:ToolTimeout must be positive.", [nameof(ToolTimeout)]);
        }
    }
}
