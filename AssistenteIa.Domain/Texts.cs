namespace AssistenteIa.Domain;

/// <summary>Makes free text (errors, model names, outputs) fit the columns that store it.</summary>
public static class Texts
{
    /// <summary>
    /// Removes NUL characters (PostgreSQL text and jsonb refuse them) and cuts the text to
    /// <paramref name="maxLength"/> characters without splitting a surrogate pair.
    /// </summary>
    public static string Fit(string text, int maxLength)
    {
        text = WithoutNul(text);
        if (text.Length <= maxLength)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[maxLength - 1]) ? maxLength - 1 : maxLength;
        return text[..cut];
    }

    /// <summary>The text without NUL characters, which PostgreSQL text and jsonb refuse.</summary>
    public static string WithoutNul(string text) =>
        text.Contains('\0', StringComparison.Ordinal) ? text.Replace("\0", "", StringComparison.Ordinal) : text;

    public static string? FitOrNull(string? text, int maxLength) => text is null ? null : Fit(text, maxLength);
}
