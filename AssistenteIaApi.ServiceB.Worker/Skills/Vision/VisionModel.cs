using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Files;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Infrastructure.Ai;
using Microsoft.Extensions.AI;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>
/// The Vision skills through the configured OpenAI-compatible vision model (<c>Vision:Engine=Model</c>): each image
/// is sent as a PNG <see cref="DataContent"/> with instructions to transcribe it (OCR) or to list the requested kinds
/// of object as JSON with pixel boxes (detection). Failures come out classified by <see cref="ChatClientTaskExecutor"/>.
/// </summary>
public sealed class VisionModel(ChatClientTaskExecutor chat)
{
    public const string OcrInstructions =
        "You are an OCR engine. Transcribe all the text in the image exactly as written, in reading order, keeping line breaks. "
        + "Answer with the transcribed text only, no comments; answer with nothing if the image has no text.";

    /// <summary>The text of one page image (PNG).</summary>
    public async Task<ChatAnswer> TranscribeAsync(ExecutionRequest request, byte[] png, IReadOnlyList<string> languages, CancellationToken cancellationToken)
    {
        var instructions = OcrInstructions + $" The text is expected in: {string.Join(", ", languages.Select(LanguageName))}.";
        return await chat.AskAsync(request, instructions, format: null, [new DataContent(png, MediaTypes.Png)], cancellationToken);
    }

    /// <summary>The objects of <paramref name="labels"/> in one image (PNG of <paramref name="width"/>×<paramref name="height"/>), boxes clamped to it.</summary>
    public async Task<(IReadOnlyList<Detection> Detections, ExecutionUsage Usage)> DetectAsync(
        ExecutionRequest request, byte[] png, int width, int height, IReadOnlyList<string> labels, int input, CancellationToken cancellationToken)
    {
        var box = new
        {
            type = "object",
            properties = new { x = new { type = "integer" }, y = new { type = "integer" }, width = new { type = "integer" }, height = new { type = "integer" } },
            required = new[] { "x", "y", "width", "height" },
            additionalProperties = false,
        };
        var schema = JsonSerializer.SerializeToElement(new
        {
            type = "object",
            properties = new
            {
                detections = new
                {
                    type = "array",
                    items = new
                    {
                        type = "object",
                        properties = new { label = new { type = "string", @enum = labels }, score = new { type = "number", minimum = 0, maximum = 1 }, box },
                        required = new[] { "label", "score", "box" },
                        additionalProperties = false,
                    },
                },
            },
            required = new[] { "detections" },
            additionalProperties = false,
        });
        var instructions =
            $"You are an object detector. Find every instance of these kinds in the image: {string.Join(", ", labels.Select(LabelName))}. "
            + $"The image is {width}×{height} pixels. For each instance give its label (one of: {string.Join(", ", labels)}), your confidence "
            + "from 0 to 1 as score, and its bounding box in pixels of this image (x, y of the top-left corner, width, height). "
            + "Answer with JSON: {\"detections\": [...]}; an empty list when there is none.";

        var answer = await chat.AskAsync(request, instructions, ChatResponseFormat.ForJsonSchema(schema, "detections"), [new DataContent(png, MediaTypes.Png)], cancellationToken);
        var detections = ReadDetections(answer.Text, labels, width, height, input)
            ?? throw new TaskExecutionException(ErrorKind.Transient, "InvalidResponse", "The model's answer was not the JSON list of detections asked for.", answer.Usage);
        return (detections, answer.Usage);
    }

    /// <summary>The detections of the model's JSON, known labels only, boxes clamped to the image; null when the JSON is not that shape.</summary>
    public static IReadOnlyList<Detection>? ReadDetections(string text, IReadOnlyList<string> labels, int width, int height, int input)
    {
        ModelDetections? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize<ModelDetections>(StripFence(text), JsonDefaults.Options);
        }
        catch (JsonException)
        {
            return null;
        }

        if (parsed?.Detections is not { } items)
        {
            return null;
        }

        var detections = new List<Detection>();
        foreach (var item in items)
        {
            var label = labels.FirstOrDefault(l => l.Equals(item.Label?.Trim(), StringComparison.OrdinalIgnoreCase));
            if (label is null || item.Box is not { } b)
            {
                continue;
            }

            var x = Math.Clamp((int)Math.Round(b.X), 0, width - 1);
            var y = Math.Clamp((int)Math.Round(b.Y), 0, height - 1);
            var w = Math.Clamp((int)Math.Round(b.Width), 1, width - x);
            var h = Math.Clamp((int)Math.Round(b.Height), 1, height - y);
            detections.Add(new Detection(label, Math.Round(Math.Clamp(item.Score ?? 0, 0, 1), 4), new Box(x, y, w, h), input));
        }

        return detections;
    }

    /// <summary>Models that ignore the response format often wrap JSON in a Markdown code fence.</summary>
    private static string StripFence(string text)
    {
        var trimmed = text.Trim();
        if (!trimmed.StartsWith("```", StringComparison.Ordinal))
        {
            return trimmed;
        }

        var start = trimmed.IndexOf('\n', StringComparison.Ordinal);
        var end = trimmed.LastIndexOf("```", StringComparison.Ordinal);
        return start >= 0 && end > start ? trimmed[(start + 1)..end] : trimmed;
    }

    private static string LanguageName(string code) => code switch
    {
        "eng" => "English",
        "por" => "Portuguese",
        _ => code,
    };

    private static string LabelName(string label) => label switch
    {
        "face" => "human faces (face)",
        "eye" => "human eyes (eye)",
        "fullbody" => "whole human bodies (fullbody)",
        "catface" => "cat faces (catface)",
        "plate" => "vehicle licence plates (plate)",
        _ => label,
    };

    private sealed record ModelDetections(List<ModelDetection>? Detections);

    private sealed record ModelDetection(string? Label, double? Score, ModelBox? Box);

    // Models write 12.0 or 12.5 where the schema says integer: read numbers, round them.
    private sealed record ModelBox(double X, double Y, double Width, double Height);
}
