using System.Globalization;
using System.Text;
using OpenCvSharp;

namespace AssistenteIa.Tests.Vision;

/// <summary>Inputs the Vision tests make themselves: text drawn with OpenCV, image-only PDFs, damaged and oversized images.</summary>
public static class TestImages
{
    /// <summary>OpenCV's sample photo of a footballer (Debian's opencv-doc, installed by scripts/skills.sh): one frontal face.</summary>
    public const string FacePhoto = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";

    /// <summary>A point inside the footballer's face in <see cref="FacePhoto"/> (548×342).</summary>
    public static readonly Point FaceCentre = new(245, 112);

    public static byte[] ReadFacePhoto() =>
        File.Exists(FacePhoto) ? File.ReadAllBytes(FacePhoto) : throw new FileNotFoundException("Run scripts/skills.sh: it installs opencv-doc's sample photos.", FacePhoto);

    /// <summary>Black text on white, large enough for any OCR engine to read.</summary>
    public static Mat Text(string text, int width = 1000, int height = 200)
    {
        var image = new Mat(height, width, MatType.CV_8UC3, Scalar.White);
        Cv2.PutText(image, text, new Point(20, (height / 2) + 30), HersheyFonts.HersheySimplex, 2.5, Scalar.Black, 5, LineTypes.AntiAlias);
        return image;
    }

    public static byte[] Png(Mat image)
    {
        Cv2.ImEncode(".png", image, out var bytes);
        return bytes;
    }

    public static byte[] TextPng(string text) => Png(Text(text));

    public static byte[] BlankPng(int width = 400, int height = 300)
    {
        using var image = new Mat(height, width, MatType.CV_8UC3, Scalar.White);
        return Png(image);
    }

    /// <summary>A PNG whose header declares <paramref name="width"/>×<paramref name="height"/> over a tiny body: an image bomb.</summary>
    public static byte[] PngClaiming(int width, int height)
    {
        var png = BlankPng(8, 8);
        // IHDR's width and height follow the signature (8), the chunk length (4) and type (4), big-endian.
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), height);
        return png;
    }

    /// <summary>The PNG signature followed by bytes that are no PNG.</summary>
    public static byte[] CorruptPng() =>
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. Encoding.ASCII.GetBytes("this is not the rest of a PNG file at all")];

    /// <summary>
    /// A PDF whose pages are only pictures (JPEG images, no text layer), as a scanner makes: page i shows
    /// <paramref name="pages"/>[i], scanned at <paramref name="dpi"/>. An OCR engine must render it to read anything.
    /// </summary>
    /// <param name="cropBoxPoints">When given, each page also gets a square CropBox of this many points.</param>
    public static byte[] ImageOnlyPdf(IReadOnlyList<Mat> pages, double dpi = 300, double? cropBoxPoints = null)
    {
        var objects = new List<byte[]>();
        var pageIds = new List<int>();
        // 1: catalog, 2: page tree, then per page: page, content, image.
        for (var i = 0; i < pages.Count; i++)
        {
            var pageId = 3 + (i * 3);
            pageIds.Add(pageId);
        }

        objects.Add(Ascii("<< /Type /Catalog /Pages 2 0 R >>"));
        objects.Add(Ascii($"<< /Type /Pages /Kids [{string.Join(' ', pageIds.Select(id => $"{id} 0 R"))}] /Count {pages.Count} >>"));
        for (var i = 0; i < pages.Count; i++)
        {
            var (w, h) = (pages[i].Width, pages[i].Height);
            var (pointsWide, pointsHigh) = ((w * 72.0 / dpi).ToString("0.##", CultureInfo.InvariantCulture), (h * 72.0 / dpi).ToString("0.##", CultureInfo.InvariantCulture));
            Cv2.ImEncode(".jpg", pages[i], out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 95));
            var content = Ascii($"q {pointsWide} 0 0 {pointsHigh} 0 0 cm /Im0 Do Q");
            var cropBox = cropBoxPoints is { } crop ? $" /CropBox [0 0 {crop.ToString(CultureInfo.InvariantCulture)} {crop.ToString(CultureInfo.InvariantCulture)}]" : "";
            objects.Add(Ascii($"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pointsWide} {pointsHigh}]{cropBox} /Resources << /XObject << /Im0 {pageIds[i] + 2} 0 R >> >> /Contents {pageIds[i] + 1} 0 R >>"));
            objects.Add(Stream($"<< /Length {content.Length} >>", content));
            objects.Add(Stream($"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length {jpeg.Length} >>", jpeg));
        }

        using var pdf = new MemoryStream();
        pdf.Write(Ascii("%PDF-1.4\n"));
        var offsets = new List<long>();
        for (var i = 0; i < objects.Count; i++)
        {
            offsets.Add(pdf.Position);
            pdf.Write(Ascii($"{i + 1} 0 obj\n"));
            pdf.Write(objects[i]);
            pdf.Write(Ascii("\nendobj\n"));
        }

        var xref = pdf.Position;
        var table = new StringBuilder($"xref\n0 {objects.Count + 1}\n0000000000 65535 f \n");
        foreach (var offset in offsets)
        {
            table.Append(CultureInfo.InvariantCulture, $"{offset:D10} 00000 n \n");
        }

        table.Append(CultureInfo.InvariantCulture, $"trailer\n<< /Size {objects.Count + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n");
        pdf.Write(Ascii(table.ToString()));
        return pdf.ToArray();
    }

    public static string DataUri(byte[] content, string mediaType) => $"data:{mediaType};base64,{Convert.ToBase64String(content)}";

    private static byte[] Stream(string dictionary, byte[] data) => [.. Ascii(dictionary + "\nstream\n"), .. data, .. Ascii("\nendstream")];

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}
