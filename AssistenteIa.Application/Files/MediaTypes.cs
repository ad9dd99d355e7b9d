using System.Text;

namespace AssistenteIa.Application.Files;

/// <summary>
/// The media type of a file from its first bytes, for the types the skills read (images, PDF, UTF-8 text). What the
/// client claims is never trusted: a file whose content is none of these is refused.
/// </summary>
public static class MediaTypes
{
    public const string Png = "image/png";
    public const string Jpeg = "image/jpeg";
    public const string Pdf = "application/pdf";

    private static readonly (byte[] Signature, int Offset, string MediaType)[] Signatures =
    [
        ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], 0, Png),
        ([0xFF, 0xD8, 0xFF], 0, Jpeg),
        ("GIF87a"u8.ToArray(), 0, "image/gif"),
        ("GIF89a"u8.ToArray(), 0, "image/gif"),
        ([0x49, 0x49, 0x2A, 0x00], 0, "image/tiff"),
        ([0x4D, 0x4D, 0x00, 0x2A], 0, "image/tiff"),
        ("BM"u8.ToArray(), 0, "image/bmp"),
        ("%PDF-"u8.ToArray(), 0, Pdf),
    ];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The sniffed media type, or null when the content is not a type the platform accepts.</summary>
    public static string? Sniff(ReadOnlySpan<byte> content)
    {
        foreach (var (signature, offset, mediaType) in Signatures)
        {
            if (content.Length >= offset + signature.Length && content.Slice(offset, signature.Length).SequenceEqual(signature))
            {
                return mediaType;
            }
        }

        if (content.Length >= 12 && content[..4].SequenceEqual("RIFF"u8) && content.Slice(8, 4).SequenceEqual("WEBP"u8))
        {
            return "image/webp";
        }

        return IsText(content) ? "text/plain" : null;
    }

    public static bool IsImage(string mediaType) => mediaType.StartsWith("image/", StringComparison.Ordinal);

    /// <summary>Valid UTF-8 without NUL or other control characters besides tab, CR, LF and form feed.</summary>
    private static bool IsText(ReadOnlySpan<byte> content)
    {
        try
        {
            var text = StrictUtf8.GetString(content);
            return !text.Any(c => char.IsControl(c) && c is not ('\t' or '\r' or '\n' or '\f'));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
