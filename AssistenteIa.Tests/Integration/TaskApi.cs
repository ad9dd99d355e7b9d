using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AssistenteIa.Application.Files;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

/// <summary>Small helpers over the REST contract, so tests read as behaviour.</summary>
public static class TaskApi
{
    public static readonly TimeSpan ExecutionDeadline = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How much sooner than asked a simulated model call may end. .NET's timers count on Linux's coarse monotonic clock
    /// (4 ms steps here, 10 ms with a 100 Hz kernel), so a delay can end a few milliseconds early
    /// (dotnet/runtime#45585); an attempt's latency is then a little under its simulated latency.
    /// </summary>
    public const int TimerEarlyToleranceMs = 20;

    /// <summary>
    /// An attempt stopped early (paused past its lease, cancelled) pays for what it sent: its prompt when the stop came
    /// during the model call, nothing when it came between the claim and the call, where the model is never called. A
    /// test that stops a task as soon as it shows Running meets either, as a cold worker can take a second to reach the
    /// call; ClaimTests holds the call open to check the paid case alone.
    /// </summary>
    public static void AssertPaidForWhatItSent(TaskAttemptDto attempt) =>
        Assert.True(attempt.TokensIn > 0 == attempt.Cost > 0, $"tokens in {attempt.TokensIn}, cost {attempt.Cost}: a prompt sent is paid for, nothing else is");

    public static object Body(
        string prompt = "Summarise the context",
        string? context = "The invoice is overdue. The customer asked for a refund. Payment failed twice.",
        string capability = "LLM_Generation",
        object? simulation = null,
        int? maxAttempts = null,
        string priority = "Normal") => new
        {
            type = new { domain = "DocumentProcessing", capability, execution = "Async" },
            priority,
            payload = new { prompt, context, simulation },
            maxAttempts,
        };

    /// <summary>A task of <paramref name="capability"/> with a payload of that capability's own fields.</summary>
    public static object For(string capability, object payload, string domain = "DataAnalysis", int? maxAttempts = null) => new
    {
        type = new { domain, capability, execution = "Async" },
        payload,
        maxAttempts,
    };

    /// <summary>A 1×1 PNG.</summary>
    public static readonly byte[] TinyPng = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==");

    /// <param name="expectContinue">
    /// Ask before sending the body (<c>Expect: 100-continue</c>): a server refusing a body too large answers before it
    /// comes, where otherwise it may answer and close while the body is still being sent, and the client sees a reset.
    /// </param>
    public static async Task<HttpResponseMessage> UploadAsync(HttpClient client, byte[] content, string name = "image.png", string claimedType = "image/png", bool expectContinue = false)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(claimedType);
        form.Add(file, "file", name);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/files") { Content = form };
        request.Headers.ExpectContinue = expectContinue;
        return await client.SendAsync(request);
    }

    public static async Task<FileDto> UploadFileAsync(HttpClient client, byte[] content, string name = "image.png")
    {
        using var response = await UploadAsync(client, content, name);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<FileDto>(Json.Options))!;
    }

    public static async Task<HttpResponseMessage> PostAsync(HttpClient client, object body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks") { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return await client.SendAsync(request);
    }

    public static async Task<HttpResponseMessage> PostRawAsync(HttpClient client, string json, string mediaType = "application/json") =>
        await client.PostAsync("/api/v1/tasks", new StringContent(json, Encoding.UTF8, mediaType));

    public static async Task<TaskDto> CreateAsync(HttpClient client, object body)
    {
        using var response = await PostAsync(client, body);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!;
    }

    public static async Task<TaskDto> GetAsync(HttpClient client, Guid id) =>
        (await client.GetFromJsonAsync<TaskDto>($"/api/v1/tasks/{id}", Json.Options))!;

    public static Task<TaskDto> WaitForStatusAsync(HttpClient client, Guid id, AiTaskStatus status, TimeSpan? deadline = null) =>
        Eventually.UntilAsync(() => GetAsync(client, id), t => t.Status == status, deadline ?? ExecutionDeadline, $"task {id} to be {status}");

    public static Task<TaskDto> WaitForTerminalAsync(HttpClient client, Guid id, TimeSpan? deadline = null) =>
        Eventually.UntilAsync(
            () => GetAsync(client, id),
            t => t.Status is AiTaskStatus.Succeeded or AiTaskStatus.Cancelled or AiTaskStatus.DeadLetter,
            deadline ?? ExecutionDeadline,
            $"task {id} to finish");

    public static async Task<List<TaskAttemptDto>> AttemptsAsync(HttpClient client, Guid id) =>
        (await client.GetFromJsonAsync<List<TaskAttemptDto>>($"/api/v1/tasks/{id}/attempts", Json.Options))!;

    public static async Task<List<TaskArtifactDto>> ArtifactsAsync(HttpClient client, Guid id) =>
        (await client.GetFromJsonAsync<List<TaskArtifactDto>>($"/api/v1/tasks/{id}/artifacts", Json.Options))!;

    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        foreach (var field in new[] { "type", "title", "detail", "traceId" })
        {
            Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty(field).GetString()), $"problem without {field}: {problem}");
        }

        Assert.Equal((int)response.StatusCode, problem.GetProperty("status").GetInt32());
        return problem;
    }
}
