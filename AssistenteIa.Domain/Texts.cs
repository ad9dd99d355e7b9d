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
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            text = text.Replace("\0", "", StringComparison.Ordinal);
        }

        if (text.Length <= maxLength)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[maxLength - 1]) ? maxLength - 1 : maxLength;
        return text[..cut];
    }

    public static string? FitOrNull(string? text, int maxLength) => text is null ? null : Fit(text, maxLength);
}
