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
