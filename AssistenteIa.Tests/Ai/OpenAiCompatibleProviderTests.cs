using System.Net;
using System.Net.Sockets;
using System.Text;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Ai;

/// <summary>
/// The OpenAI provider against an OpenAI-compatible server on loopback (as Ollama or vLLM would be):
/// the real SDK, real HTTP, canned answers.
/// </summary>
public sealed class OpenAiCompatibleProviderTests : IAsyncDisposable
{
    private readonly HttpListener _server = new();
    private readonly string _endpoint;
    private (int Status, string Body) _answer;
    private string? _lastRequest;
    private readonly Task _loop;

    public OpenAiCompatibleProviderTests()
    {
        var port = FreePort();
        _endpoint = $"http://127.0.0.1:{port}/v1";
        _server.Prefixes.Add($"http://127.0.0.1:{port}/");
        _server.Start();
        _loop = ServeAsync();
    }

    [Fact]
    public async Task A_completion_returns_the_text_model_and_token_usage_reported_by_the_endpoint()
    {
        _answer = (200, """
            {"id":"c1","object":"chat.completion","created":1,"model":"qwen2.5-7b",
             "choices":[{"index":0,"message":{"role":"assistant","content":"label: refund"},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":42,"completion_tokens":3,"total_tokens":45}}
            """);

        var result = await Executor().ExecuteAsync(Request(), CancellationToken.None);

        Assert.Equal("label: refund", result.Output);
        Assert.Equal(new ExecutionUsage("qwen2.5-7b", 42, 3), result.Usage);
        Assert.Contains("\"model\":\"qwen2.5-7b\"", _lastRequest);
        Assert.Contains("Classify this ticket", _lastRequest);
    }

    [Fact]
    public async Task Classification_asks_for_structured_output_and_returns_the_label_and_confidence_as_json()
    {
        _answer = (200, """
            {"id":"c2","object":"chat.completion","created":1,"model":"qwen2.5-7b",
             "choices":[{"index":0,"message":{"role":"assistant","content":"{\"label\":\"REFUND\",\"confidence\":0.82}"},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":60,"completion_tokens":9,"total_tokens":69}}
            """);
        var request = Request() with { Payload = Request().Payload with { Labels = ["refund", "bug", "question"] } };

        var result = await new ClassificationSkill(Executor()).ExecuteAsync(request, CancellationToken.None);

        var artifact = Assert.Single(result.Artifacts);
        Assert.Equal(("classification", "application/json"), (artifact.Name, artifact.MediaType));
        Assert.Equal("""{"label":"refund","confidence":0.82}""", artifact.Content);
        Assert.Equal(new ExecutionUsage("qwen2.5-7b", 60, 9), result.Usage);

        // The labels went to the endpoint as the enum of a strict JSON schema.
        using var sent = System.Text.Json.JsonDocument.Parse(_lastRequest!);
        var format = sent.RootElement.GetProperty("response_format");
        Assert.Equal("json_schema", format.GetProperty("type").GetString());
        var labels = format.GetProperty("json_schema").GetProperty("schema").GetProperty("properties").GetProperty("label").GetProperty("enum");
        Assert.Equal(["refund", "bug", "question"], labels.EnumerateArray().Select(l => l.GetString()));
    }

    [Fact]
    public async Task Embeddings_come_from_the_endpoint_with_the_configured_model_and_its_token_usage()
    {
        _answer = (200, """
            {"object":"list","model":"nomic-embed-text",
             "data":[{"object":"embedding","index":0,"embedding":[0.6,0.8,0.0]},{"object":"embedding","index":1,"embedding":[0.0,0.0,1.0]}],
             "usage":{"prompt_tokens":7,"total_tokens":7}}
            """);
        var options = new AiOptions { Provider = "OpenAI", EmbeddingModel = "nomic-embed-text" };
        using var generator = EmbeddingGeneratorFactory.Create(options, $"Endpoint={_endpoint};Key=test-key;Model=qwen2.5-7b");

        var embeddings = await generator.GenerateAsync(["refund policy", "opening hours"]);

        Assert.Equal([0.6f, 0.8f, 0f], embeddings[0].Vector.ToArray());
        Assert.Equal([0f, 0f, 1f], embeddings[1].Vector.ToArray());
        Assert.Equal(7, embeddings.Usage?.InputTokenCount);
        using var sent = System.Text.Json.JsonDocument.Parse(_lastRequest!);
        Assert.Equal("nomic-embed-text", sent.RootElement.GetProperty("model").GetString());
        Assert.Equal(["refund policy", "opening hours"], sent.RootElement.GetProperty("input").EnumerateArray().Select(i => i.GetString()));
    }

    [Fact]
    public async Task A_classification_naming_no_label_is_a_transient_invalid_response()
    {
        _answer = (200, """
            {"id":"c3","object":"chat.completion","created":1,"model":"qwen2.5-7b",
             "choices":[{"index":0,"message":{"role":"assistant","content":"{\"label\":\"weather\",\"confidence\":1}"},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":60,"completion_tokens":9,"total_tokens":69}}
            """);
        var request = Request() with { Payload = Request().Payload with { Labels = ["refund", "bug"] } };

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => new ClassificationSkill(Executor()).ExecuteAsync(request, CancellationToken.None));

        Assert.Equal((ErrorKind.Transient, "InvalidResponse"), (error.Kind, error.Code));
        Assert.Equal(60, error.Usage.TokensIn);
    }

    [Theory]
    [InlineData(429, ErrorKind.Transient, "RateLimited")]
    [InlineData(503, ErrorKind.Transient, "Http503")]
    [InlineData(400, ErrorKind.Permanent, "Http400")]
    [InlineData(401, ErrorKind.Permanent, "Http401")]
    public async Task Errors_of_the_endpoint_are_classified_transient_or_permanent(int status, ErrorKind kind, string code)
    {
        _answer = (status, """{"error":{"message":"nope","type":"error"}}""");

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => Executor().ExecuteAsync(Request(), CancellationToken.None));

        Assert.Equal(kind, error.Kind);
        Assert.Equal(code, error.Code);
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_a_transient_error()
    {
        var options = new AiOptions { Provider = "OpenAI" };
        var client = ChatClientFactory.Create(options, $"Endpoint=http://127.0.0.1:{FreePort()}/v1;Key=k;Model=m", new TokenCounter(), TimeProvider.System);
        var executor = new ChatClientTaskExecutor(client, new TokenCounter(), Options.Create(options));

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => executor.ExecuteAsync(Request(), CancellationToken.None));

        Assert.Equal(ErrorKind.Transient, error.Kind);
    }

    [Fact]
    public void The_OpenAI_provider_without_a_connection_string_refuses_to_start() =>
        Assert.Throws<InvalidOperationException>(() => ChatClientFactory.Create(new AiOptions { Provider = "OpenAI" }, null, new TokenCounter(), TimeProvider.System));

    public async ValueTask DisposeAsync()
    {
        _server.Stop();
        _server.Close();
        try
        {
            await _loop;
        }
        catch (Exception)
        {
            // The listener throws once closed; the loop is over either way.
        }
    }

    private ChatClientTaskExecutor Executor()
    {
        var options = new AiOptions { Provider = "OpenAI" };
        var client = ChatClientFactory.Create(options, $"Endpoint={_endpoint};Key=test-key;Model=qwen2.5-7b", new TokenCounter(), TimeProvider.System);
        return new ChatClientTaskExecutor(client, new TokenCounter(), Options.Create(options));
    }

    private static ExecutionRequest Request() => new(
        Guid.NewGuid(),
        "tenant-a",
        1,
        new TaskType(DomainType.CustomerSupport, CapabilityType.LLM_Classification, ExecutionType.Async),
        new TaskPayload { Prompt = "Classify this ticket", Context = "I want my money back", Model = "qwen2.5-7b" });

    private async Task ServeAsync()
    {
        while (_server.IsListening)
        {
            var context = await _server.GetContextAsync();
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
            {
                _lastRequest = await reader.ReadToEndAsync();
            }

            var body = Encoding.UTF8.GetBytes(_answer.Body);
            context.Response.StatusCode = _answer.Status;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
