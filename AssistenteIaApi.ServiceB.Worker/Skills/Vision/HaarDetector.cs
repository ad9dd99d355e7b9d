using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using OpenCvSharp;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Vision;

/// <param name="Score">0 to 1; see <see cref="HaarDetector"/> for what it measures.</param>
/// <param name="Input">The input's number in the task (1-based).</param>
public sealed record Detection(string Label, double Score, Box Box, int Input);

/// <summary>
/// Local object detection with OpenCV's Haar cascades from Debian's opencv-data. It finds only what its cascades were
/// trained on: frontal faces (not profiles or faces turned away), eyes (looked for inside the faces found), upright
/// full human bodies, frontal cat faces and Russian-style licence plates; nothing else (no cars, dogs, generic
/// objects), and small or partly hidden ones are often missed. It is what <c>model</c> says:
/// <see cref="ModelName"/>.
/// <para>
/// Score: OpenCV reports, per detection, the weighted sum of the cascade's last stage (the <c>levelWeights</c> of
/// <c>detectMultiScale</c> with reject levels). That sum minus the stage's threshold (read from the cascade file) is
/// how far past the last gate the window got; the score is its logistic, so 0.5 is a borderline detection and values
/// near 1 are clear ones. It ranks detections of one label; it is not a calibrated probability.
/// </para>
/// </summary>
public sealed class HaarDetector(IOptions<VisionOptions> options) : IDisposable
{
    /// <summary>Labels the tenant names in <c>payload.detect</c>, and the cascade file for each.</summary>
    public static readonly IReadOnlyDictionary<string, string> Cascades = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        // The "alt" face cascade: on OpenCV's own sample photos it finds the faces with fewer false hits than "default".
        ["face"] = "haarcascade_frontalface_alt.xml",
        ["eye"] = "haarcascade_eye.xml",
        ["fullbody"] = "haarcascade_fullbody.xml",
        ["catface"] = "haarcascade_frontalcatface.xml",
        ["plate"] = "haarcascade_russian_plate_number.xml",
    };

    public static string ModelName { get; } =
        $"opencv-{Cv2.GetVersionString()}-haar (local: frontal faces, eyes, full bodies, cat faces, plates only)";

    // A CascadeClassifier keeps scratch buffers: one instance per concurrent detection, reused.
    private readonly ConcurrentDictionary<string, ConcurrentBag<Cascade>> _pool = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every detection of <paramref name="labels"/> in <paramref name="image"/> (BGR), boxes in its pixels.</summary>
    public IReadOnlyList<Detection> Detect(Mat image, IReadOnlyCollection<string> labels, int input)
    {
        using var gray = new Mat();
        Cv2.CvtColor(image, gray, ColorConversionCodes.BGR2GRAY);
        Cv2.EqualizeHist(gray, gray);

        var detections = new List<Detection>();
        var wantFaces = labels.Contains("face", StringComparer.OrdinalIgnoreCase);
        var wantEyes = labels.Contains("eye", StringComparer.OrdinalIgnoreCase);
        var faces = wantFaces || wantEyes ? Run("face", gray, input) : [];
        if (wantFaces)
        {
            detections.AddRange(faces);
        }

        if (wantEyes)
        {
            // Eyes alone match any dark round spot; inside a face (its upper part) they mean something.
            foreach (var face in faces)
            {
                var region = new Rect(face.Box.X, face.Box.Y, face.Box.Width, Math.Max(1, face.Box.Height * 2 / 3));
                using var upper = new Mat(gray, region);
                detections.AddRange(Run("eye", upper, input).Select(e => e with { Box = e.Box with { X = e.Box.X + region.X, Y = e.Box.Y + region.Y } }));
            }
        }

        foreach (var label in labels.Where(l => !l.Equals("face", StringComparison.OrdinalIgnoreCase) && !l.Equals("eye", StringComparison.OrdinalIgnoreCase)))
        {
            detections.AddRange(Run(label, gray, input));
        }

        return detections;
    }

    private List<Detection> Run(string label, Mat gray, int input)
    {
        var cascade = Rent(label);
        try
        {
            var rects = cascade.Classifier.DetectMultiScale(
                gray, out _, out double[] weights, scaleFactor: 1.1, minNeighbors: options.Value.MinNeighbors,
                flags: HaarDetectionTypes.ScaleImage, outputRejectLevels: true);
            return rects
                .Select((r, i) => new Detection(label.ToLowerInvariant(), Score(weights[i] - cascade.LastStageThreshold), new Box(r.X, r.Y, r.Width, r.Height), input))
                .OrderByDescending(d => d.Score)
                .ToList();
        }
        finally
        {
            _pool[label].Add(cascade);
        }
    }

    private static double Score(double margin) => Math.Round(1 / (1 + Math.Exp(-margin)), 4);

    private Cascade Rent(string label)
    {
        var bag = _pool.GetOrAdd(label, _ => []);
        if (bag.TryTake(out var cascade))
        {
            return cascade;
        }

        var path = Path.Combine(options.Value.CascadesDirectory, Cascades[label]);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The Haar cascade for '{label}' is missing (install Debian's opencv-data).", path);
        }

        return new Cascade(new CascadeClassifier(path), LastStageThreshold(path));
    }

    /// <summary>The threshold of the cascade's last stage, read with OpenCV's own file reader.</summary>
    private static double LastStageThreshold(string path)
    {
        using var storage = new FileStorage(path, FileStorage.Modes.Read);
        using var stages = storage["cascade"]?["stages"];
        if (stages is null || stages.Size == 0)
        {
            throw new InvalidDataException($"{path} is not a cascade in OpenCV's current format.");
        }

        using var last = stages[(int)stages.Size - 1];
        return last?["stageThreshold"]?.ReadDouble() ?? throw new InvalidDataException($"{path} has no stage threshold.");
    }

    public void Dispose()
    {
        foreach (var bag in _pool.Values)
        {
            while (bag.TryTake(out var cascade))
            {
                cascade.Classifier.Dispose();
            }
        }
    }

    private sealed record Cascade(CascadeClassifier Classifier, double LastStageThreshold);
}
