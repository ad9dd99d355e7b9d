using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.Extensions.AI;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>LLM_Generation: the model's answer to the prompt, as one text artifact.</summary>
public sealed class GenerationSkill(ChatClientTaskExecutor chat) : ITaskSkill
{
    public CapabilityType Capability => CapabilityType.LLM_Generation;

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var answer = await chat.AskAsync(request, ChatClientTaskExecutor.Instructions(request.Type), format: null, cancellationToken);
        return new ExecutionResult([ArtifactOutput.Text(answer.Text, "answer")], answer.Usage);
    }
}

/// <summary>
/// LLM_Classification: one of the task's labels and a confidence, asked for as structured output (a JSON schema whose
/// label is an enum of the labels) and checked on return; a model that ignores the schema but names a label in its
/// text is still understood. The result is the JSON artifact <c>classification</c>: <c>{ label, confidence }</c>.
/// </summary>
public sealed class ClassificationSkill(ChatClientTaskExecutor chat) : ITaskSkill
{
    public static readonly string[] DefaultLabels = ["positive", "neutral", "negative"];

    public CapabilityType Capability => CapabilityType.LLM_Classification;

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var labels = request.Payload.Labels is { Count: > 0 } given ? given : [.. DefaultLabels];
        request = request with { Payload = request.Payload with { Labels = labels } };
        var schema = JsonSerializer.SerializeToElement(new
        {
            type = "object",
            properties = new
            {
                label = new { type = "string", @enum = labels },
                confidence = new { type = "number", minimum = 0, maximum = 1 },
            },
            required = new[] { "label", "confidence" },
            additionalProperties = false,
        });
        var instructions = $"Classify the input into exactly one of these labels: {string.Join(", ", labels)}. "
            + "Answer with JSON: {\"label\": one of the labels, \"confidence\": how sure you are, from 0 to 1}.";

        var answer = await chat.AskAsync(request, instructions, ChatResponseFormat.ForJsonSchema(schema, "classification"), cancellationToken);
        var result = Read(answer.Text, labels)
            ?? throw new TaskExecutionException(ErrorKind.Transient, "InvalidResponse", "The model's answer named none of the labels.", answer.Usage);
        return new ExecutionResult([ArtifactOutput.Json("classification", result)], answer.Usage);
    }

    /// <summary>The label (as the task spelled it) and confidence from JSON, else the first label the text names; null when none.</summary>
    public static ClassificationResult? Read(string text, IReadOnlyList<string> labels)
    {
        string? Known(string? name) => labels.FirstOrDefault(l => l.Equals(name?.Trim(), StringComparison.OrdinalIgnoreCase));

        try
        {
            using var json = JsonDocument.Parse(text);
            if (json.RootElement.ValueKind == JsonValueKind.Object
                && json.RootElement.TryGetProperty("label", out var label) && label.ValueKind == JsonValueKind.String
                && Known(label.GetString()) is { } known)
            {
                double? confidence = json.RootElement.TryGetProperty("confidence", out var c) && c.ValueKind == JsonValueKind.Number
                    ? Math.Clamp(c.GetDouble(), 0, 1)
                    : null;
                return new ClassificationResult(known, confidence);
            }
        }
        catch (JsonException)
        {
            // Not JSON: read the text.
        }

        var line = text.Trim();
        if (line.StartsWith("label:", StringComparison.OrdinalIgnoreCase) && Known(line[6..]) is { } named)
        {
            return new ClassificationResult(named, null);
        }

        return labels
            .Select(l => (Label: l, Index: text.IndexOf(l, StringComparison.OrdinalIgnoreCase)))
            .Where(m => m.Index >= 0)
            .OrderBy(m => m.Index)
            .Select(m => new ClassificationResult(m.Label, null))
            .FirstOrDefault();
    }
}

/// <param name="Confidence">0 to 1; null when the model gave none.</param>
public sealed record ClassificationResult(string Label, double? Confidence);

/// <summary>
/// LLM_Reasoning: the conclusion (text artifact <c>conclusion</c>) and the steps that led to it (JSON artifact
/// <c>steps</c>), asked for as structured output. A model that answers in prose gives its lines as steps and its
/// last line as the conclusion.
/// </summary>
public sealed class ReasoningSkill(ChatClientTaskExecutor chat) : ITaskSkill
{
    public CapabilityType Capability => CapabilityType.LLM_Reasoning;

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var schema = JsonSerializer.SerializeToElement(new
        {
            type = "object",
            properties = new
            {
                steps = new { type = "array", items = new { type = "string" } },
                conclusion = new { type = "string" },
            },
            required = new[] { "steps", "conclusion" },
            additionalProperties = false,
        });
        const string instructions = "Reason step by step. Answer with JSON: {\"steps\": [each step of your reasoning], \"conclusion\": your conclusion}.";

        var answer = await chat.AskAsync(request, instructions, ChatResponseFormat.ForJsonSchema(schema, "reasoning"), cancellationToken);
        var (steps, conclusion) = Read(answer.Text);
        return new ExecutionResult([ArtifactOutput.Text(conclusion, "conclusion"), ArtifactOutput.Json("steps", steps)], answer.Usage);
    }

    public static (IReadOnlyList<string> Steps, string Conclusion) Read(string text)
    {
        try
        {
            var parsed = JsonSerializer.Deserialize<ReasoningAnswer>(text, JsonDefaults.Options);
            if (parsed is { Conclusion: { } conclusion, Steps: { } steps })
            {
                return (steps, conclusion);
            }
        }
        catch (JsonException)
        {
            // Prose: read the lines.
        }

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? ([], "") : (lines[..^1], lines[^1]);
    }

    private sealed record ReasoningAnswer(List<string>? Steps, string? Conclusion);
}
