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
        CapabilityType.LLM_Classification => $"label: {Classify(prompt, context, labels).Label}",
        CapabilityType.LLM_Reasoning => Reason(prompt, context).Text,
        _ => Generate(prompt, context),
    };

    /// <summary>The structured answer, for a caller that asked for JSON: <c>{ label, confidence }</c> or <c>{ steps, conclusion }</c>.</summary>
    public static object? Structured(CapabilityType capability, string prompt, string? context, IReadOnlyList<string>? labels) => capability switch
    {
        CapabilityType.LLM_Classification => Classify(prompt, context, labels),
        CapabilityType.LLM_Reasoning => Reason(prompt, context) is var r ? new { r.Steps, r.Conclusion } : null,
        _ => null,
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

    /// <summary>
    /// The most mentioned label wins (ties go to the first listed); without labels, a word-list sentiment. Confidence is
    /// the winner's share of the mentions with add-one smoothing, so one mention among three labels is 0.5, not 1.
    /// </summary>
    public static Classification Classify(string prompt, string? context, IReadOnlyList<string>? labels)
    {
        var words = Words($"{prompt} {context}");
        if (labels is { Count: > 0 })
        {
            var counts = labels.Select(l => words.Count(w => w.Equals(l, StringComparison.OrdinalIgnoreCase))).ToList();
            var best = counts.IndexOf(counts.Max());
            return new Classification(labels[best], Math.Round((counts[best] + 1.0) / (counts.Sum() + labels.Count), 4));
        }

        var positive = words.Count(PositiveWords.Contains);
        var negative = words.Count(NegativeWords.Contains);
        var score = positive - negative;
        var label = score > 0 ? DefaultLabels[0] : score < 0 ? DefaultLabels[2] : DefaultLabels[1];
        var share = score == 0 ? 1.0 / 3 : (Math.Max(positive, negative) + 1.0) / (positive + negative + 2);
        return new Classification(label, Math.Round(share, 4));
    }

    private static (string Text, List<string> Steps, string Conclusion) Reason(string prompt, string? context)
    {
        var facts = RelevantSentences(prompt, context, 2);
        List<string> steps =
        [
            $"Question: {prompt.Trim()}",
            $"Relevant facts: {(facts.Count == 0 ? "none given" : string.Join(" ", facts))}",
        ];
        var conclusion = facts.Count == 0 ? "more context is needed to decide." : "the facts above answer the question.";
        var text = new StringBuilder()
            .Append("1. ").AppendLine(steps[0])
            .Append("2. ").AppendLine(steps[1])
            .Append("3. Conclusion: ").Append(conclusion);
        return (text.ToString(), steps, conclusion);
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

/// <summary>A classification: the chosen label and how sure the model is of it (0 to 1).</summary>
public sealed record Classification(string Label, double Confidence);
