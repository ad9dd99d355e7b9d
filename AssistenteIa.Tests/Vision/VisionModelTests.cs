using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;
using AssistenteIa.Tests.Integration;
using AssistenteIaApi.ServiceB.Worker.Skills.Vision;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Vision;

/// <summary>
/// The Vision skills' model path against an OpenAI-compatible server on loopback: the real SDK and HTTP, canned
/// answers. Checks what is sent (the image as a data URI, the instructions) and how the answer is read.
/// </summary>
public sealed class VisionModelTests : IAsyncDisposable
{
    private readonly LoopbackHttpServer _server;
    private (int Status, string Body) _answer;

    public VisionModelTests()
    {
        // Every request (the SDK's retries included) gets the answer the test set last.
        _server = new LoopbackHttpServer([.. Enumerable.Repeat(LoopbackHttpServer.Reply(_ => (_answer.Status, _answer.Body, "application/json")), 16)]);
    }

    private string LastRequest => _server.Received[^1].Body;

    [Fact]
    public async Task Ocr_sends_the_page_as_a_png_data_uri_and_returns_the_transcription_and_its_tokens()
    {
        _answer = (200, Completion("INVOICE 4821\nPAID", promptTokens: 812, completionTokens: 7));
        var png = TestImages.TextPng("INVOICE 4821 PAID");

        var answer = await Model().TranscribeAsync(Request(CapabilityType.Vision_OCR), png, ["eng", "por"], CancellationToken.None);

        Assert.Equal("INVOICE 4821\nPAID", answer.Text);
        Assert.Equal(new ExecutionUsage("gpt-4o-mini", 812, 7), answer.Usage);
        using var sent = JsonDocument.Parse(LastRequest);
        var messages = sent.RootElement.GetProperty("messages");
        Assert.Contains("Transcribe", messages[0].GetProperty("content").ToString());
        Assert.Contains("English, Portuguese", messages[0].GetProperty("content").ToString());
        var image = messages[1].GetProperty("content").EnumerateArray().Single(c => c.GetProperty("type").GetString() == "image_url");
        Assert.Equal("data:image/png;base64," + Convert.ToBase64String(png), image.GetProperty("image_url").GetProperty("url").GetString());
    }

    [Fact]
    public async Task Detection_asks_for_the_labels_as_a_json_schema_and_keeps_known_labels_with_boxes_inside_the_image()
    {
        var json = """{"detections":[{"label":"FACE","score":0.91,"box":{"x":10.4,"y":20,"width":30,"height":40}},{"label":"dog","score":0.99,"box":{"x":1,"y":1,"width":5,"height":5}},{"label":"plate","score":1.7,"box":{"x":90,"y":-5,"width":50,"height":20}}]}""";
        _answer = (200, Completion(json, promptTokens: 500, completionTokens: 60));

        var (detections, usage) = await Model().DetectAsync(Request(CapabilityType.Vision_ObjectDetection), TestImages.BlankPng(100, 80), 100, 80, ["face", "plate"], input: 2, CancellationToken.None);

        Assert.Equal(
            [new Detection("face", 0.91, new Box(10, 20, 30, 40), 2), new Detection("plate", 1, new Box(90, 0, 10, 20), 2)],
            detections);
        Assert.Equal(new ExecutionUsage("gpt-4o-mini", 500, 60), usage);
        using var sent = JsonDocument.Parse(LastRequest);
        var schema = sent.RootElement.GetProperty("response_format").GetProperty("json_schema").GetProperty("schema");
        var labels = schema.GetProperty("properties").GetProperty("detections").GetProperty("items").GetProperty("properties").GetProperty("label").GetProperty("enum");
        Assert.Equal(["face", "plate"], labels.EnumerateArray().Select(l => l.GetString()));
        Assert.Contains("100×80 pixels", sent.RootElement.GetProperty("messages")[0].GetProperty("content").ToString());
    }

    [Fact]
    public async Task A_detection_answer_that_is_not_the_json_asked_for_is_a_transient_invalid_response()
    {
        _answer = (200, Completion("I see a person.", promptTokens: 400, completionTokens: 5));

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() =>
            Model().DetectAsync(Request(CapabilityType.Vision_ObjectDetection), TestImages.BlankPng(), 400, 300, ["face"], input: 1, CancellationToken.None));

        Assert.Equal((ErrorKind.Transient, "InvalidResponse", 400L), (error.Kind, error.Code, error.Usage.TokensIn));
    }

    [Fact]
    public async Task A_model_that_refuses_the_image_is_a_permanent_error()
    {
        _answer = (400, """{"error":{"message":"image input is not supported by this model","type":"invalid_request_error"}}""");

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() =>
            Model().TranscribeAsync(Request(CapabilityType.Vision_OCR), TestImages.BlankPng(), ["eng"], CancellationToken.None));

        Assert.Equal((ErrorKind.Permanent, "Http400"), (error.Kind, error.Code));
    }

    [Theory]
    [InlineData("Local", false)]
    [InlineData("OpenAI", true)]
    public void The_model_engine_is_refused_at_start_unless_the_ai_provider_is_openai_compatible(string provider, bool accepted)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Ai:Provider"] = provider, ["Vision:Engine"] = "Model" });
        builder.AddVisionSkills();
        using var host = builder.Build();

        var read = () => host.Services.GetRequiredService<IOptions<VisionOptions>>().Value;

        if (accepted)
        {
            Assert.Equal(VisionEngine.Model, read().Engine);
        }
        else
        {
            Assert.Contains("Ai:Provider=OpenAI", Assert.Throws<OptionsValidationException>(read).Message);
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private VisionModel Model()
    {
        var options = new AiOptions { Provider = "OpenAI", DefaultModel = "gpt-4o-mini" };
        var client = ChatClientFactory.Create(options, $"Endpoint={_server.Url}/v1;Key=test-key;Model=gpt-4o-mini", new TokenCounter(), TimeProvider.System);
        return new VisionModel(new ChatClientTaskExecutor(client, new TokenCounter(), Options.Create(options)));
    }

    private static ExecutionRequest Request(CapabilityType capability) => new(
        Guid.NewGuid(), "tenant-a", 1, new TaskType(DomainType.DocumentProcessing, capability, ExecutionType.Async), new TaskPayload());

    private static string Completion(string content, int promptTokens, int completionTokens) => JsonSerializer.Serialize(new
    {
        id = "c1",
        @object = "chat.completion",
        created = 1,
        model = "gpt-4o-mini",
        choices = new[] { new { index = 0, message = new { role = "assistant", content }, finish_reason = "stop" } },
        usage = new { prompt_tokens = promptTokens, completion_tokens = completionTokens, total_tokens = promptTokens + completionTokens },
    });
}
