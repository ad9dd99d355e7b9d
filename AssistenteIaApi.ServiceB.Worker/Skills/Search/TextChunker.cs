using System.Text.RegularExpressions;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Search;

/// <summary>
/// Cuts a document into chunks of about <see cref="MaxChars"/> characters at paragraph and sentence ends, each chunk
/// starting with the previous one's last sentence when it fits, so a fact split across a boundary is found whole in one
/// of them. A sentence longer than a chunk is cut at spaces.
/// </summary>
public static partial class TextChunker
{
    public const int MaxChars = 800;

    public static IReadOnlyList<string> Split(string text, int maxChars = MaxChars)
    {
        var sentences = SentenceEnd().Split(text.Replace("\r\n", "\n", StringComparison.Ordinal))
            .Select(s => Whitespace().Replace(s, " ").Trim())
            .Where(s => s.Length > 0)
            .SelectMany(s => s.Length <= maxChars ? [s] : CutAtSpaces(s, maxChars))
            .ToList();

        var chunks = new List<string>();
        var current = new List<string>();
        var length = 0;
        foreach (var sentence in sentences)
        {
            if (length > 0 && length + 1 + sentence.Length > maxChars)
            {
                chunks.Add(string.Join(' ', current));
                var carried = current[^1];
                current.Clear();
                length = 0;
                if (carried.Length + 1 + sentence.Length <= maxChars)
                {
                    current.Add(carried);
                    length = carried.Length;
                }
            }

            current.Add(sentence);
            length += (length > 0 ? 1 : 0) + sentence.Length;
        }

        if (current.Count > 0)
        {
            chunks.Add(string.Join(' ', current));
        }

        return chunks;
    }

    private static IEnumerable<string> CutAtSpaces(string sentence, int maxChars)
    {
        var start = 0;
        while (start < sentence.Length)
        {
            var end = Math.Min(start + maxChars, sentence.Length);
            if (end < sentence.Length)
            {
                var space = sentence.LastIndexOf(' ', end - 1, end - start);
                end = space > start ? space : end;
            }

            yield return sentence[start..end].Trim();
            start = end;
        }
    }

    [GeneratedRegex(@"(?<=[.!?])\s+|\n\s*\n")]
    private static partial Regex SentenceEnd();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
