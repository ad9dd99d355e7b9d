using System.Net;
using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Tests.Vision;
using AssistenteIaApi.ServiceB.Worker.Skills.Vision;
using OpenCvSharp;

namespace AssistenteIa.Tests.Integration;

/// <summary>Vision_ObjectDetection through the whole system with OpenCV's Haar cascades, on a real photo and on images the test makes.</summary>
[Collection(AppCollection.Name)]
public sealed class VisionObjectDetectionTests(AppFixture fixture)
{
    [Fact]
    public async Task The_face_in_a_photo_is_found_boxed_and_drawn_on_an_annotated_png()
    {
        using var client = fixture.CreateApiClient();
        var photo = TestImages.ReadFacePhoto();
        var file = await TaskApi.UploadFileAsync(client, photo, "footballer.jpg");

        var task = await RunAsync(client, new { inputs = new[] { new { fileId = file.Id } }, detect = new[] { "face" } });

        Assert.Equal(AiTaskStatus.Succeeded, task.Status);
        var artifacts = await TaskApi.ArtifactsAsync(client, task.Id);
        var detections = Detections(artifacts);
        Assert.All(detections, d => Assert.Equal(("face", 1), (d.Label, d.Input)));
        var face = Assert.Single(detections, d => Contains(d.Box, TestImages.FaceCentre));
        Assert.InRange(face.Score, 0.5, 1.0);
        Assert.InRange(face.Box.Width, 20, 120);
        Assert.True(face.Box.X + face.Box.Width <= 548 && face.Box.Y + face.Box.Height <= 342, $"box outside the 548×342 photo: {face.Box}");

        // The annotated copy downloads as a PNG of the photo's size, with the face's box drawn in green.
        var annotated = Assert.Single(artifacts, a => a.Kind == ArtifactKind.File);
        Assert.Equal(("annotated", "image/png"), (annotated.Name, annotated.MediaType));
        using var download = await client.GetAsync(annotated.Uri);
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        using var image = Cv2.ImDecode(await download.Content.ReadAsByteArrayAsync(), ImreadModes.Color);
        Assert.Equal((548, 342), (image.Width, image.Height));
        var edge = image.At<Vec3b>(face.Box.Y, face.Box.X + (face.Box.Width / 2));
        Assert.Equal((0, 255, 0), (edge.Item0, edge.Item1, edge.Item2));

        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.StartsWith("opencv-4.", attempt.Model);
        Assert.Contains("only", attempt.Model);
        Assert.Equal((1L, "images", 0m), (attempt.Units, attempt.Unit, attempt.Cost));
    }

    [Fact]
    public async Task A_blank_image_gives_no_detections_and_still_an_annotated_copy()
    {
        using var client = fixture.CreateApiClient();

        var task = await RunAsync(client, new
        {
            inputs = new[] { new { dataUri = TestImages.DataUri(TestImages.BlankPng(), "image/png") } },
            detect = new[] { "face", "eye", "fullbody", "catface", "plate" },
        });

        Assert.Equal(AiTaskStatus.Succeeded, task.Status);
        var artifacts = await TaskApi.ArtifactsAsync(client, task.Id);
        Assert.Empty(Detections(artifacts));
        Assert.Equal("annotated", Assert.Single(artifacts, a => a.Kind == ArtifactKind.File).Name);
        Assert.Equal(1L, Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).Units);
    }

    [Fact]
    public async Task Several_images_give_detections_tagged_by_input_and_one_annotated_copy_each()
    {
        using var client = fixture.CreateApiClient();
        var photo = await TaskApi.UploadFileAsync(client, TestImages.ReadFacePhoto(), "footballer.jpg");

        var task = await RunAsync(client, new
        {
            inputs = new object[] { new { dataUri = TestImages.DataUri(TestImages.BlankPng(), "image/png") }, new { fileId = photo.Id } },
        });

        Assert.Equal(AiTaskStatus.Succeeded, task.Status);
        var artifacts = await TaskApi.ArtifactsAsync(client, task.Id);
        var detections = Detections(artifacts);
        Assert.NotEmpty(detections);
        Assert.All(detections, d => Assert.Equal(("face", 2), (d.Label, d.Input)));
        Assert.Equal(["annotated-1", "annotated-2"], artifacts.Where(a => a.Kind == ArtifactKind.File).Select(a => a.Name));
        Assert.Equal(2L, Assert.Single(await TaskApi.AttemptsAsync(client, task.Id)).Units);
    }

    [Fact]
    public async Task A_text_file_as_input_is_a_permanent_error()
    {
        using var client = fixture.CreateApiClient();

        // An uploaded text file is refused at POST (CapabilityContractTests); a data URI's content is read by the worker.
        var dataUri = "data:image/png;base64," + Convert.ToBase64String("a face, in words"u8.ToArray());
        var task = await RunAsync(client, new { inputs = new[] { new { dataUri } } }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "UnsupportedInput");
    }

    [Fact]
    public async Task A_damaged_image_is_a_permanent_error_and_is_not_retried()
    {
        using var client = fixture.CreateApiClient();

        var task = await RunAsync(client, new { inputs = new[] { new { dataUri = TestImages.DataUri(TestImages.CorruptPng(), "image/png") } } }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "InvalidImage");
    }

    [Fact]
    public async Task One_bad_input_among_good_ones_fails_the_attempt_before_any_image_is_analysed()
    {
        using var client = fixture.CreateApiClient();

        var task = await RunAsync(client, new
        {
            inputs = new[]
            {
                new { dataUri = TestImages.DataUri(TestImages.BlankPng(), "image/png") },
                new { dataUri = TestImages.DataUri(TestImages.PngClaiming(60_000, 60_000), "image/png") },
            },
        }, maxAttempts: 3);

        await AssertDeadLetteredOnceAsync(client, task, "ImageTooLarge");
        Assert.Contains("Input 2", task.LastError);
    }

    private static async Task<TaskDto> RunAsync(HttpClient client, object payload, int? maxAttempts = null)
    {
        var created = await TaskApi.CreateAsync(client, TaskApi.For("Vision_ObjectDetection", payload, domain: "MonitoringAlert", maxAttempts: maxAttempts));
        return await TaskApi.WaitForTerminalAsync(client, created.Id);
    }

    private static async Task AssertDeadLetteredOnceAsync(HttpClient client, TaskDto task, string errorCode)
    {
        Assert.Equal(AiTaskStatus.DeadLetter, task.Status);
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.Equal((AttemptStatus.Failed, errorCode, 0L, "images"), (attempt.Status, attempt.ErrorCode, attempt.Units, attempt.Unit));
        Assert.StartsWith("opencv-", attempt.Model);
        Assert.Empty(await TaskApi.ArtifactsAsync(client, task.Id));
    }

    private static bool Contains(Box box, Point point) =>
        point.X >= box.X && point.X <= box.X + box.Width && point.Y >= box.Y && point.Y <= box.Y + box.Height;

    private static List<Detection> Detections(List<TaskArtifactDto> artifacts)
    {
        var detections = Assert.Single(artifacts, a => a.Name == "detections");
        Assert.Equal("application/json", detections.MediaType);
        return JsonSerializer.Deserialize<List<Detection>>(detections.Content!, Json.Options)!;
    }
}
