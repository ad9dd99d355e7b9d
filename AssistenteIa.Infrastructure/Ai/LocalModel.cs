using System.Text;
using System.Text.RegularExpressions;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>
/// The built-in model: deterministic, offline text work (extractive answers, keyword classification,
/// step-by-step outlines) so the platform is exercised end to end without a network or weights.
/// </summary>
public static partial class LocalModel
{
    private static readonly string[] DefaultLabels = ["positive", "neutral", "negative"];
    private static readonly HashSet<string> PositiveWords = ["good", "great", "excellent", "happy", "love", "thanks", "resolved", "fast", "perfect", "bom", "ótimo", "obrigado"];
    private static readonly HashSet<string> NegativeWords = ["bad", "broken", "angry", "slow", "error", "fail", "failed", "refund", "hate", "problem", "ruim", "erro", "problema"];

    public static string Answer(CapabilityType capability, string prompt, string? context, IReadOnlyList<string>? labels) => capability switch
    {
        CapabilityType.LLM_Classification => Classify(prompt, context, labels),
        CapabilityType.LLM_Reasoning => Reason(prompt, context),
        _ => Generate(prompt, context),
    };

    private static string Generate(string prompt, string? context)
    {
        var output = new StringBuilder().Append("Answer to: ").AppendLine(prompt.Trim());
        var key = RelevantSentences(prompt, context, 3);
        if (key.Count == 0)
        {
            return output.Append("No context was given; the request is recorded as stated.").ToString();
        }

        output.AppendLine("Key points from the context:");
        foreach (var sentence in key)
        {
            output.Append("- ").AppendLine(sentence);
        }

        return output.ToString().TrimEnd();
    }

    private static string Classify(string prompt, string? context, IReadOnlyList<string>? labels)
    {
        var words = Words($"{prompt} {context}");
        string label;
        if (labels is { Count: > 0 })
        {
            // Most mentioned label wins; ties go to the first label listed.
            label = labels.OrderByDescending(l => words.Count(w => w.Equals(l, StringComparison.OrdinalIgnoreCase))).First();
        }
        else
        {
            var score = words.Count(PositiveWords.Contains) - words.Count(NegativeWords.Contains);
            label = score > 0 ? DefaultLabels[0] : score < 0 ? DefaultLabels[2] : DefaultLabels[1];
        }

        return $"label: {label}";
    }

    private static string Reason(string prompt, string? context)
    {
        var facts = RelevantSentences(prompt, context, 2);
        var output = new StringBuilder()
            .Append("1. Question: ").AppendLine(prompt.Trim())
            .Append("2. Relevant facts: ").AppendLine(facts.Count == 0 ? "none given" : string.Join(" ", facts))
            .Append("3. Conclusion: ").Append(facts.Count == 0 ? "more context is needed to decide." : "the facts above answer the question.");
        return output.ToString();
    }

    private static List<string> RelevantSentences(string prompt, string? context, int count)
    {
        if (string.IsNullOrWhiteSpace(context))
        {
            return [];
        }

        var promptWords = Words(prompt).Where(w => w.Length > 3).ToHashSet();
        return SentenceSplit().Split(context)
            .Select(s => s.Trim())
            .Where(s => s.Length > 0)
            .Select((sentence, index) => (sentence, index, score: Words(sentence).Count(promptWords.Contains)))
            .OrderByDescending(s => s.score).ThenBy(s => s.index)
            .Take(count)
            .OrderBy(s => s.index)
            .Select(s => s.sentence)
            .ToList();
    }

    private static List<string> Words(string text) =>
        WordSplit().Split(text.ToLowerInvariant()).Where(w => w.Length > 0).ToList();

    [GeneratedRegex(@"(?<=[.!?])\s+")]
    private static partial Regex SentenceSplit();

    [GeneratedRegex(@"[^\p{L}\p{N}]+")]
    private static partial Regex WordSplit();
}
