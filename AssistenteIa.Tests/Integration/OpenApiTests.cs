using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

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

/// <summary>The document's wording per environment, from the API's own Swagger setup (no app started).</summary>
public sealed class OpenApiEnvironmentTests
{
    [Theory]
    [InlineData("Development", true)]
    [InlineData("Stagging", false)]
    [InlineData("Production", false)]
    public void The_seeded_development_keys_are_advertised_only_in_Development(string environment, bool advertised)
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder(new Microsoft.AspNetCore.Builder.WebApplicationOptions { EnvironmentName = environment });
        builder.Services.AddControllers().AddApplicationPart(typeof(AssistenteIaApi.OpenApi.SwaggerSetup).Assembly);
        AssistenteIaApi.OpenApi.SwaggerSetup.AddSwaggerDocumentation(builder.Services, builder.Environment);
        using var app = builder.Build();

        var document = app.Services.GetRequiredService<Swashbuckle.AspNetCore.Swagger.ISwaggerProvider>().GetSwagger(AssistenteIaApi.OpenApi.SwaggerSetup.DocumentName);

        Assert.Equal(advertised, document.Components!.SecuritySchemes!["ApiKey"].Description!.Contains("dev-key-tenant-a", StringComparison.Ordinal));
    }
}
