using AssistenteIa.Application;
using AssistenteIa.Application.Files;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.Extensions.Options;
using OpenCvSharp;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <summary>
/// Vision_ObjectDetection: faces, eyes, full bodies, cat faces or licence plates in images. Locally (the default)
/// with OpenCV's Haar cascades (<see cref="HaarDetector"/> says what they can and cannot find); with
/// <c>Vision:Engine=Model</c>, by the vision model. Outputs: the JSON artifact <c>detections</c>
/// (<c>[ { label, score, box, input } ]</c>, boxes in pixels of the original image) and, per input, a PNG file artifact
/// <c>annotated</c> (<c>annotated-1</c>, <c>annotated-2</c>… for several) with the boxes drawn. One unit per image.
/// </summary>
public sealed class ObjectDetectionSkill(
    TaskInputReader inputs,
    ImageDecoder images,
    HaarDetector haar,
    VisionModel model,
    IOptions<VisionOptions> options,
    IOptions<AiOptions> ai) : ITaskSkill
{
    public const string Unit = "images";

    public static readonly string[] DefaultLabels = ["face"];

    private static readonly Dictionary<string, Scalar> Colors = new()
    {
        ["face"] = new Scalar(0, 255, 0),
        ["eye"] = new Scalar(255, 128, 0),
        ["fullbody"] = new Scalar(0, 0, 255),
        ["catface"] = new Scalar(255, 0, 255),
        ["plate"] = new Scalar(0, 255, 255),
    };

    public CapabilityType Capability => CapabilityType.Vision_ObjectDetection;

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var labels = request.Payload.Detect is { Count: > 0 } asked
            ? asked.Select(l => l.ToLowerInvariant()).Distinct().ToList()
            : [.. DefaultLabels];
        var useModel = options.Value.Engine == VisionEngine.Model;
        var meter = new UsageMeter(useModel ? request.Payload.Model ?? ai.Value.DefaultModel : HaarDetector.ModelName, Unit);
        return await meter.MeasureAsync(
            async () =>
            {
                var files = await inputs.ReadAsync(request, cancellationToken);

                // Every input is checked before any is decoded: one bad input fails the attempt before anything is spent.
                for (var i = 0; i < files.Count; i++)
                {
                    images.Check(files[i], i);
                }

                var detections = new List<Detection>();
                var annotated = new List<ArtifactOutput>();
                for (var i = 0; i < files.Count; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var image = images.Decode(files[i], i);
                    var found = useModel
                        ? await DetectWithModelAsync(request, image, labels, i + 1, meter, cancellationToken)
                        : DetectLocally(image, labels, i + 1);
                    meter.CountUnit();
                    detections.AddRange(found);
                    var name = files.Count == 1 ? "annotated" : $"annotated-{i + 1}";
                    annotated.Add(ArtifactOutput.File(name, MediaTypes.Png, Annotate(image, found)));
                }

                return new ExecutionResult([ArtifactOutput.Json("detections", detections), .. annotated], meter.Usage);
            },
            cancellationToken);
    }

    private List<Detection> DetectLocally(Mat image, IReadOnlyList<string> labels, int input)
    {
        var (fitted, scale) = ImageDecoder.FitWithin(image, options.Value.DetectionMaxSide);
        using (fitted)
        {
            try
            {
                return haar.Detect(fitted, labels, input).Select(d => d with { Box = Scale(d.Box, 1 / scale, image) }).ToList();
            }
            catch (FileNotFoundException ex)
            {
                throw new TaskExecutionException(ErrorKind.Transient, "DetectorUnavailable", "The local detector's cascades are not installed on this worker.", inner: ex);
            }
        }
    }

    private async Task<IReadOnlyList<Detection>> DetectWithModelAsync(
        ExecutionRequest request, Mat image, IReadOnlyList<string> labels, int input, UsageMeter meter, CancellationToken cancellationToken)
    {
        var (fitted, scale) = ImageDecoder.FitWithin(image, options.Value.ModelImageMaxSide);
        using (fitted)
        {
            var (found, usage) = await model.DetectAsync(request, ImageDecoder.EncodePng(fitted), fitted.Width, fitted.Height, labels, input, cancellationToken);
            meter.Add(usage);
            return found.Select(d => d with { Box = Scale(d.Box, 1 / scale, image) }).ToList();
        }
    }

    /// <summary>A copy of the image (at most <see cref="VisionOptions.DetectionMaxSide"/> on its long side) with each detection's box and label drawn.</summary>
    private byte[] Annotate(Mat image, IReadOnlyList<Detection> detections)
    {
        var (canvas, scale) = ImageDecoder.FitWithin(image, options.Value.DetectionMaxSide);
        using (canvas)
        {
            var thickness = Math.Max(2, Math.Max(canvas.Width, canvas.Height) / 400);
            foreach (var detection in detections)
            {
                var box = Scale(detection.Box, scale, canvas);
                var color = Colors.GetValueOrDefault(detection.Label, new Scalar(255, 255, 255));
                var rect = new Rect(box.X, box.Y, box.Width, box.Height);
                Cv2.Rectangle(canvas, rect, color, thickness);
                var caption = $"{detection.Label} {detection.Score:0.00}";
                var origin = new Point(rect.X, Math.Max(12, rect.Y - 4));
                Cv2.PutText(canvas, caption, origin, HersheyFonts.HersheySimplex, 0.45, color, 1, LineTypes.AntiAlias);
            }

            return ImageDecoder.EncodePng(canvas);
        }
    }

    /// <summary>A box multiplied by <paramref name="factor"/>, kept inside <paramref name="bounds"/>.</summary>
    private static Box Scale(Box box, double factor, Mat bounds)
    {
        var x = Math.Clamp((int)Math.Round(box.X * factor), 0, bounds.Width - 1);
        var y = Math.Clamp((int)Math.Round(box.Y * factor), 0, bounds.Height - 1);
        var width = Math.Clamp((int)Math.Round(box.Width * factor), 1, bounds.Width - x);
        var height = Math.Clamp((int)Math.Round(box.Height * factor), 1, bounds.Height - y);
        return new Box(x, y, width, height);
    }
}
