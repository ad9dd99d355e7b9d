using AssistenteIa.Application.Files;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using MetadataExtractor;
using MetadataExtractor.Formats.Bmp;
using MetadataExtractor.Formats.Exif;
using MetadataExtractor.Formats.Gif;
using MetadataExtractor.Formats.Jpeg;
using MetadataExtractor.Formats.Png;
using MetadataExtractor.Formats.WebP;
using Microsoft.Extensions.Options;
using OpenCvSharp;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>
/// Turns a tenant's image into pixels safely: the dimensions its header declares are read first (MetadataExtractor,
/// managed code, no pixel buffer) and an image over <see cref="VisionOptions.MaxImagePixels"/> is refused before the
/// decoder allocates anything; then OpenCV decodes it (first frame or page only). What cannot be decoded is a
/// permanent error: the same bytes will never decode on a retry.
/// </summary>
public sealed class ImageDecoder(IOptions<VisionOptions> options)
{
    /// <summary>Refuses what is not an image, or an image whose header is unreadable or declares too many pixels; decodes nothing.</summary>
    public void Check(InputFile file, int index)
    {
        if (!MediaTypes.IsImage(file.MediaType))
        {
            throw Permanent("UnsupportedInput", $"Input {index + 1} ({file.MediaType}) is not an image.");
        }

        var (width, height) = DeclaredSize(file.Content)
            ?? throw Permanent("InvalidImage", $"Input {index + 1} is damaged: its header gives no image size.");
        var limit = options.Value.MaxImagePixels;
        if (width * height > limit)
        {
            throw Permanent("ImageTooLarge", $"Input {index + 1} is {width}×{height} pixels; images of up to {limit} pixels are read.");
        }
    }

    /// <summary>The image's pixels as 8-bit BGR, after <see cref="Check"/>. The caller disposes the <see cref="Mat"/>.</summary>
    public Mat Decode(InputFile file, int index)
    {
        Check(file, index);
        var image = Cv2.ImDecode(file.Content, ImreadModes.Color);
        if (image.Empty())
        {
            image.Dispose();
            throw Permanent("InvalidImage", $"Input {index + 1} could not be decoded: the image is damaged or in an unsupported variant of {file.MediaType}.");
        }

        return image;
    }

    /// <summary>The largest width × height any of the image's headers declares; null when none can be read.</summary>
    public static (long Width, long Height)? DeclaredSize(byte[] content)
    {
        IReadOnlyList<MetadataExtractor.Directory> directories;
        try
        {
            using var stream = new MemoryStream(content, writable: false);
            directories = ImageMetadataReader.ReadMetadata(stream);
        }
        catch (Exception)
        {
            // A header the reader cannot walk (it throws several kinds of exception on malformed data) gives no size.
            return null;
        }

        (long Width, long Height)? largest = null;
        foreach (var directory in directories)
        {
            var size = directory switch
            {
                PngDirectory png => Size(png, PngDirectory.TagImageWidth, PngDirectory.TagImageHeight),
                JpegDirectory jpeg => Size(jpeg, JpegDirectory.TagImageWidth, JpegDirectory.TagImageHeight),
                GifHeaderDirectory gif => Size(gif, GifHeaderDirectory.TagImageWidth, GifHeaderDirectory.TagImageHeight),
                GifImageDirectory frame => Size(frame, GifImageDirectory.TagWidth, GifImageDirectory.TagHeight),
                BmpHeaderDirectory bmp => Size(bmp, BmpHeaderDirectory.TagImageWidth, BmpHeaderDirectory.TagImageHeight),
                WebPDirectory webp => Size(webp, WebPDirectory.TagImageWidth, WebPDirectory.TagImageHeight),
                ExifIfd0Directory or ExifImageDirectory => Size(directory, ExifDirectoryBase.TagImageWidth, ExifDirectoryBase.TagImageHeight),
                _ => null,
            };
            if (size is { } s && (largest is null || s.Width * s.Height > largest.Value.Width * largest.Value.Height))
            {
                largest = s;
            }
        }

        return largest;
    }

    private static (long Width, long Height)? Size(MetadataExtractor.Directory directory, int widthTag, int heightTag) =>
        directory.TryGetInt64(widthTag, out var width) && directory.TryGetInt64(heightTag, out var height) && width > 0 && height > 0
            ? (width, height)
            : null;

    /// <summary><paramref name="image"/> scaled down so its long side is at most <paramref name="maxSide"/> (a new Mat), and the factor applied.</summary>
    public static (Mat Image, double Scale) FitWithin(Mat image, int maxSide)
    {
        var longSide = Math.Max(image.Width, image.Height);
        if (longSide <= maxSide)
        {
            return (image.Clone(), 1.0);
        }

        var scale = (double)maxSide / longSide;
        var resized = new Mat();
        Cv2.Resize(image, resized, new Size(Math.Max(1, (int)Math.Round(image.Width * scale)), Math.Max(1, (int)Math.Round(image.Height * scale))), interpolation: InterpolationFlags.Area);
        return (resized, scale);
    }

    public static byte[] EncodePng(Mat image)
    {
        Cv2.ImEncode(".png", image, out var bytes);
        return bytes;
    }

    private static TaskExecutionException Permanent(string code, string message) => new(ErrorKind.Permanent, code, message);
}
