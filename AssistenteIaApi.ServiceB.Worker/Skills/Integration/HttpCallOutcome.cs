using System.Net;
using System.Text;
using AssistenteIa.Domain.Entities;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Integration;

/// <summary>How an integration call's answer is judged and kept: its status against the expected ones, and its body as text or base64.</summary>
public static class HttpCallOutcome
{
    /// <summary>
    /// Null when <paramref name="status"/> is one the task expects (any 2xx by default); otherwise the failure: 408, 429
    /// and 5xx are transient (the server may answer otherwise later), any other status is permanent.
    /// </summary>
    public static (ErrorKind Kind, string Code)? Classify(int status, IReadOnlyCollection<int>? expected)
    {
        if (expected is { Count: > 0 } ? expected.Contains(status) : status is >= 200 and < 300)
        {
            return null;
        }

        return status is (int)HttpStatusCode.RequestTimeout or (int)HttpStatusCode.TooManyRequests or >= 500
            ? (ErrorKind.Transient, $"Http{status}")
            : (ErrorKind.Permanent, $"Http{status}");
    }

    /// <summary>Media types whose bodies are kept as text: text/*, JSON, XML, JavaScript, forms.</summary>
    public static bool IsText(string? mediaType)
    {
        if (string.IsNullOrEmpty(mediaType))
        {
            return false;
        }

        var type = mediaType.ToLowerInvariant();
        return type.StartsWith("text/", StringComparison.Ordinal)
            || type is "application/json" or "application/xml" or "application/javascript" or "application/x-www-form-urlencoded"
                or "application/problem+json" or "application/problem+xml" or "application/x-ndjson" or "application/graphql-response+json"
            || type.EndsWith("+json", StringComparison.Ordinal)
            || type.EndsWith("+xml", StringComparison.Ordinal);
    }

    /// <summary>The body as text when its media type is textual and its bytes decode cleanly, else null (kept as base64).</summary>
    public static string? AsText(byte[] body, string? mediaType, string? charset)
    {
        if (!IsText(mediaType))
        {
            return null;
        }

        Encoding encoding;
        try
        {
            encoding = string.IsNullOrWhiteSpace(charset) ? Encoding.UTF8 : Encoding.GetEncoding(charset.Trim('"'));
        }
        catch (ArgumentException)
        {
            return null;
        }

        try
        {
            var strict = Encoding.GetEncoding(encoding.CodePage, EncoderFallback.ExceptionFallback, DecoderFallback.ExceptionFallback);
            return strict.GetString(body);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>The encodings a binary body is searched in for a secret a server echoes back.</summary>
    private static readonly Encoding[] EchoEncodings =
    [
        Encoding.UTF8, Encoding.Unicode, Encoding.BigEndianUnicode, Encoding.UTF32, new UTF32Encoding(bigEndian: true, byteOrderMark: false),
    ];

    /// <summary>
    /// Every occurrence of a secret's value in <paramref name="bytes"/> (a body kept as bytes), encoded as UTF-8, UTF-16 or
    /// UTF-32 of either byte order, replaced by <c>[redacted]</c> in that encoding: a server may echo the request's headers.
    /// A textual body is redacted after decoding instead (<see cref="Redact(string, IReadOnlyCollection{string})"/>).
    /// </summary>
    public static byte[] Redact(byte[] bytes, IReadOnlyCollection<string> secrets)
    {
        foreach (var secret in secrets.Where(s => s.Length > 0).OrderByDescending(s => s.Length))
        {
            foreach (var encoding in EchoEncodings)
            {
                bytes = Replace(bytes, encoding.GetBytes(secret), encoding.GetBytes("[redacted]"));
            }
        }

        return bytes;
    }

    private static byte[] Replace(byte[] bytes, byte[] needle, byte[] replacement)
    {
        var index = bytes.AsSpan().IndexOf(needle);
        if (index < 0)
        {
            return bytes;
        }

        using var output = new MemoryStream(bytes.Length);
        var rest = bytes.AsSpan();
        while ((index = rest.IndexOf(needle)) >= 0)
        {
            output.Write(rest[..index]);
            output.Write(replacement);
            rest = rest[(index + needle.Length)..];
        }

        output.Write(rest);
        return output.ToArray();
    }

    /// <summary>Every occurrence of a secret in decoded text (a body or a header), in any letter case, replaced by <c>[redacted]</c>.</summary>
    public static string Redact(string text, IReadOnlyCollection<string> secrets) =>
        secrets.Where(s => s.Length > 0).OrderByDescending(s => s.Length).Aggregate(text, (current, secret) => current.Replace(secret, "[redacted]", StringComparison.OrdinalIgnoreCase));
}
