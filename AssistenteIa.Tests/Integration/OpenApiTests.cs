using System.Net.Http.Json;
using System.Text.Json;

namespace AssistenteIa.Tests.Integration;

[Collection(AppCollection.Name)]
public sealed class OpenApiTests(AppFixture fixture)
{
    [Fact]
    public async Task The_OpenAPI_document_is_3_0_and_lists_every_endpoint()
    {
        using var client = fixture.CreateApiClient(apiKey: null);

        var document = await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");

        Assert.StartsWith("3.0.", document.GetProperty("openapi").GetString());
        var paths = document.GetProperty("paths");
        Assert.True(paths.GetProperty("/api/v1/tasks").TryGetProperty("post", out _));
        Assert.True(paths.GetProperty("/api/v1/tasks").TryGetProperty("get", out _));
        Assert.True(paths.GetProperty("/api/v1/tasks/{id}").TryGetProperty("get", out _));
        Assert.True(paths.GetProperty("/api/v1/tasks/{id}/cancel").TryGetProperty("post", out _));
        Assert.True(paths.GetProperty("/api/v1/tasks/{id}/attempts").TryGetProperty("get", out _));
        Assert.True(paths.GetProperty("/api/v1/tasks/{id}/artifacts").TryGetProperty("get", out _));
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_api_key_headers_and_enums()
    {
        using var client = fixture.CreateApiClient(apiKey: null);

        var document = await client.GetFromJsonAsync<JsonElement>("/swagger/v1/swagger.json");
        var text = document.GetRawText();

        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("X-Api-Key", scheme.GetProperty("name").GetString());
        Assert.Equal("header", scheme.GetProperty("in").GetString());
        var example = document.GetProperty("components").GetProperty("schemas").GetProperty("CreateTaskRequest").GetProperty("example");
        Assert.Equal("Classify this ticket", example.GetProperty("payload").GetProperty("prompt").GetString());
        foreach (var expected in new[] { "Idempotency-Key", "X-Total-Count", "Location", "LLM_Generation", "DocumentProcessing", "HumanInLoop", "DeadLetter", "application/problem+json" })
        {
            Assert.Contains(expected, text);
        }
    }

    [Fact]
    public async Task Swagger_UI_is_served()
    {
        using var client = fixture.CreateApiClient(apiKey: null);

        var html = await client.GetStringAsync("/swagger/index.html");

        Assert.Contains("swagger", html, StringComparison.OrdinalIgnoreCase);
    }
}
