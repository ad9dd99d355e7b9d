using System.Net;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

/// <summary>Each capability refuses, at POST time, a payload its skill could not use: a 400 naming the field, and no task.</summary>
[Collection(AppCollection.Name)]
public sealed class CapabilityContractTests(AppFixture fixture)
{
    public static TheoryData<string, string, string> Refused => new()
    {
        { "LLM_Generation", """{"context":"no prompt"}""", "payload.prompt" },
        { "LLM_Classification", """{"prompt":"p","labels":[]}""", "payload.labels" },
        { "LLM_Classification", """{"prompt":"p","labels":["a","A"]}""", "payload.labels" },
        { "RuleEngine", """{"prompt":"rules?"}""", "payload.data" },
        { "RuleEngine", """{"data":{"a":1},"rules":[{"name":"r","expression":""}]}""", "payload.rules[0].expression" },
        { "RuleEngine", """{"data":{"a":1},"rules":[{"name":"r","expression":"data.a > 0"},{"name":"R","expression":"true"}]}""", "payload.rules" },
        { "ExternalIntegration", """{"prompt":"call it"}""", "payload.request" },
        { "ExternalIntegration", """{"request":{"url":"ftp://example.com/x"}}""", "payload.request.url" },
        { "ExternalIntegration", """{"request":{"url":"http://user:pw@example.com/"}}""", "payload.request.url" },
        { "ExternalIntegration", """{"request":{"method":"TRACE","url":"https://example.com/"}}""", "payload.request.method" },
        { "ExternalIntegration", """{"request":{"url":"https://example.com/","headers":{"Host":"internal"}}}""", "payload.request.headers" },
        { "ExternalIntegration", """{"request":{"url":"https://example.com/","headers":{"X-A":"a\r\nX-B: b"}}}""", "payload.request.headers" },
        { "ExternalIntegration", """{"request":{"url":"http://169.254.169.254/latest/meta-data/"}}""", "payload.request.url" },
        { "ExternalIntegration", """{"request":{"url":"http://8.8.8.8:6379/"}}""", "payload.request.url" },
        { "Embedding_Search", """{"prompt":"find"}""", "payload.search" },
        { "Embedding_Search", """{"search":{"collection":"../x","query":"q"}}""", "payload.search.collection" },
        { "Embedding_Search", """{"search":{"collection":"docs","query":"q","topK":0}}""", "payload.search.topK" },
        { "Vision_OCR", """{"prompt":"read it"}""", "payload.inputs" },
        { "Vision_OCR", """{"inputs":[{"url":"https://example.com/a.png","dataUri":"data:image/png;base64,AA=="}]}""", "payload.inputs[0]" },
        { "Vision_OCR", """{"inputs":[{"dataUri":"data:image/png,notbase64"}]}""", "payload.inputs[0].dataUri" },
        { "Vision_OCR", """{"inputs":[{"url":"http://10.0.0.5/scan.png"}]}""", "payload.inputs[0].url" },
        { "Vision_OCR", """{"inputs":[{"url":"http://8.8.8.8:25/scan.png"}]}""", "payload.inputs[0].url" },
        { "Vision_OCR", """{"inputs":[{"fileId":"00000000-0000-0000-0000-000000000000"}]}""", "payload.inputs[0].fileId" },
        { "Vision_OCR", """{"inputs":[{"fileId":"0195f0a0-0000-7000-8000-000000000000"}]}""", "payload.inputs[0].fileId" },
        { "Vision_OCR", """{"inputs":[{"dataUri":"data:image/png;base64,AA=="}],"languages":["klingon"]}""", "payload.languages" },
        { "Vision_ObjectDetection", """{"inputs":[{"dataUri":"data:image/png;base64,AA=="}],"detect":["tank"]}""", "payload.detect" },
        // Nulls and wrong shapes that used to reach a 500.
        { "Vision_OCR", """{"inputs":[null]}""", "payload.inputs" },
        { "LLM_Generation", """{"prompt":"p","inputs":[null]}""", "payload.inputs" },
        { "RuleEngine", """{"data":{"a":1},"rules":[null]}""", "payload.rules" },
        { "LLM_Classification", """{"prompt":"p","labels":[null]}""", "payload.labels" },
        { "Vision_ObjectDetection", """{"inputs":[{"dataUri":"data:image/png;base64,AA=="}],"detect":[null]}""", "payload.detect" },
        { "ExternalIntegration", """{"request":{"url":null}}""", "payload.request.url" },
        { "ExternalIntegration", """{"request":{"method":null,"url":"https://example.com/"}}""", "payload.request.method" },
        { "Embedding_Search", """{"search":{"collection":null,"query":null}}""", "payload.search.collection" },
        { "RuleEngine", """{"data":{"a":1},"rules":[{"name":null,"expression":null}]}""", "payload.rules[0].name" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_payload_the_capability_cannot_use_is_400_naming_the_field_and_creates_nothing(string capability, string payload, string field)
    {
        using var client = fixture.CreateApiClient();
        var before = await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" """);

        using var response = await TaskApi.PostRawAsync(client, $$"""{"type":{"domain":"DataAnalysis","capability":"{{capability}}","execution":"Async"},"payload":{{payload}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        // Model binding names fields as C# does (Payload.Request.Url), the contracts as JSON does: either names the field.
        Assert.True(problem.GetProperty("errors").EnumerateObject().Any(e => e.Name.Equals(field, StringComparison.OrdinalIgnoreCase)), $"expected an error for {field}: {problem}");
        Assert.Equal(before, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" """));
    }

    [Fact]
    public async Task Inputs_and_requests_a_capability_does_not_read_are_not_fetched_or_refused()
    {
        using var client = fixture.CreateApiClient();

        // A generation task does not read inputs or request: a malformed URL there is stored, never dereferenced.
        var task = await TaskApi.CreateAsync(client, TaskApi.For("LLM_Generation", new { prompt = "p", inputs = new[] { new { url = "not a url" } }, request = new { url = "nope" } }));

        Assert.Equal(AiTaskStatus.Queued, task.Status);
    }

    [Fact]
    public async Task A_detection_input_file_that_is_not_an_image_is_400_at_post()
    {
        using var client = fixture.CreateApiClient();
        var text = await TaskApi.UploadFileAsync(client, "just some text"u8.ToArray(), "notes.txt");

        using var response = await TaskApi.PostAsync(client, TaskApi.For("Vision_ObjectDetection", new { inputs = new[] { new { fileId = text.Id } } }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        Assert.Contains("text/plain", problem.GetProperty("errors").GetProperty("payload.inputs[0].fileId")[0].GetString());
    }
}
