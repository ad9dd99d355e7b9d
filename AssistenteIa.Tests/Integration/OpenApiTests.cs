using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using AssistenteIa.Application.Stats.Queries.GetStats;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIaApi.OpenApi;
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
    public async Task Creating_a_task_has_an_example_per_capability_and_the_payload_documents_each_capabilitys_fields()
    {
        var document = await DocumentAsync();

        var examples = document["paths"]!["/api/v1/tasks"]!["post"]!["requestBody"]!["content"]!["application/json"]!["examples"]!.AsObject();
        Assert.Equal(Enum.GetNames<CapabilityType>().Order(), examples.Select(e => e.Key).Order());
        foreach (var (capability, example) in examples)
        {
            Assert.Equal(capability, example!["value"]!["type"]!["capability"]!.GetValue<string>());
        }

        var payload = document["components"]!["schemas"]!["TaskPayload"]!["properties"]!.AsObject();
        foreach (var (field, capability) in new[] { ("labels", "LLM_Classification"), ("rules", "RuleEngine"), ("request", "ExternalIntegration"), ("search", "Embedding_Search"), ("inputs", "Vision_OCR"), ("detect", "Vision_ObjectDetection") })
        {
            // A property that is a reference to another schema carries its documentation on that schema (OpenAPI 3.0).
            var property = payload[field]!;
            var described = property["$ref"] is { } reference ? document["components"]!["schemas"]![reference.GetValue<string>().Split('/')[^1]]! : property;
            Assert.Contains(capability, described["description"]?.GetValue<string>() ?? "", StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Every_operation_has_a_unique_camelCase_operationId()
    {
        var document = await DocumentAsync();

        var ids = Operations(document).Select(o => o.Operation["operationId"]?.GetValue<string>()).ToList();

        Assert.All(ids, id => Assert.Matches("^[a-z][A-Za-z0-9]*$", id ?? ""));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(
            [
                "addCollectionDocument", "cancelTask", "createTask", "createWebhook", "deleteWebhook", "downloadFile", "enableWebhook", "getFileInfo", "getStats",
                "getTask", "getWebhook", "listCollections", "listTaskArtifacts", "listTaskAttempts", "listTasks", "listWebhookDeliveries", "listWebhooks",
                "redeliverWebhookDelivery", "streamTaskEvents", "streamTenantTaskEvents", "uploadFile",
            ],
            ids.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_document_names_one_relative_server()
    {
        var document = await DocumentAsync();

        var server = Assert.Single(document["servers"]!.AsArray());

        Assert.Equal("/", server!["url"]!.GetValue<string>());
    }

    [Fact]
    public async Task Ids_are_uuids_and_query_values_have_their_real_types()
    {
        var document = await DocumentAsync();

        var pathParameters = Operations(document).SelectMany(o => Parameters(o.Operation)).Where(p => p["in"]!.GetValue<string>() == "path").ToList();
        var ids = pathParameters.Where(p => p["name"]!.GetValue<string>() is "id" or "deliveryId").ToList();
        Assert.NotEmpty(ids);
        Assert.All(ids, p => Assert.Equal(("string", "uuid"), (p["schema"]!["type"]!.GetValue<string>(), p["schema"]!["format"]!.GetValue<string>())));
        Assert.All(pathParameters.Except(ids), p => Assert.Equal("name", p["name"]!.GetValue<string>()));

        var list = Parameters(document["paths"]!["/api/v1/tasks"]!["get"]!).ToDictionary(p => p["name"]!.GetValue<string>(), p => p["schema"]!);
        Assert.Equal(Enum.GetNames<AiTaskStatus>(), EnumOf(document, list["status"]));
        Assert.Equal(Enum.GetNames<DomainType>(), EnumOf(document, list["domain"]));
        Assert.Equal(Enum.GetNames<CapabilityType>(), EnumOf(document, list["capability"]));
        Assert.Equal(Enum.GetNames<ExecutionType>(), EnumOf(document, list["execution"]));
        Assert.Equal(Enum.GetNames<DomainType>().Concat(Enum.GetNames<CapabilityType>()), EnumOf(document, list["type"]));
        Assert.Equal("integer", list["page"]["type"]!.GetValue<string>());
        Assert.Equal("integer", list["pageSize"]["type"]!.GetValue<string>());
        Assert.Equal("boolean", list["includePayload"]["type"]!.GetValue<string>());

        var stats = Parameters(document["paths"]!["/api/v1/stats"]!["get"]!).ToDictionary(p => p["name"]!.GetValue<string>(), p => p["schema"]!);
        Assert.Equal("date-time", stats["from"]["format"]!.GetValue<string>());
        Assert.Equal("date-time", stats["to"]["format"]!.GetValue<string>());
        Assert.Equal(["minute", "hour", "day"], EnumOf(document, stats["bucket"]));
        var deliveries = Parameters(document["paths"]!["/api/v1/webhooks/{id}/deliveries"]!["get"]!).Single(p => p["name"]!.GetValue<string>() == "limit");
        Assert.Equal("integer", deliveries["schema"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_stats_response_has_a_schema_with_every_field_required()
    {
        var document = await DocumentAsync();

        var response = document["paths"]!["/api/v1/stats"]!["get"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]!;
        var schema = Resolve(document, response);

        var required = schema["required"]!.AsArray().Select(r => r!.GetValue<string>()).Order(StringComparer.Ordinal);
        Assert.Equal(["bucket", "byStatus", "from", "latency", "latencyByBucket", "throughput", "to", "usageByDay", "usageByModel"], required);
        var throughput = Resolve(document, schema["properties"]!["throughput"]!["items"]!);
        Assert.Equal("integer", throughput["properties"]!["created"]!["type"]!.GetValue<string>());
        var latency = Resolve(document, schema["properties"]!["latency"]!);
        Assert.True(latency["properties"]!["queueWaitP50Ms"]!["nullable"]!.GetValue<bool>());
        var daily = Resolve(document, schema["properties"]!["usageByDay"]!["items"]!);
        Assert.Equal("date", daily["properties"]!["day"]!["format"]!.GetValue<string>());
    }

    /// <summary>
    /// Redocly's recommended rules, less those <c>redocly.yaml</c> turns off with a reason, find nothing: no error and
    /// no warning. The CLI is the web app's dev dependency (<c>AssistenteIa.Web/node_modules</c>, installed by its build).
    /// </summary>
    [Fact]
    public async Task The_document_passes_Redocly_lint()
    {
        var root = RepositoryRoot();
        var redocly = Path.Combine(root, "AssistenteIa.Web", "node_modules", ".bin", "redocly");
        Assert.True(File.Exists(redocly), $"Redocly CLI not found at {redocly}: install the web app's dev dependencies (cd AssistenteIa.Web && npm ci).");
        using var client = fixture.CreateApiClient(apiKey: null);
        var file = Path.Combine(Path.GetTempPath(), $"assistenteia-openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, await client.GetStringAsync("/swagger/v1/swagger.json"));
        try
        {
            var start = new ProcessStartInfo(redocly, ["lint", file, "--config", Path.Combine(root, "redocly.yaml"), "--format", "json"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = root,
            };
            start.Environment["REDOCLY_TELEMETRY"] = "off";
            start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
            using var process = Process.Start(start)!;
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            var errors = process.StandardError.ReadToEndAsync(deadline.Token);
            var output = await process.StandardOutput.ReadToEndAsync(deadline.Token);
            await process.WaitForExitAsync(deadline.Token);

            Assert.True(process.ExitCode == 0, $"redocly lint exited with {process.ExitCode}:\n{output}\n{await errors}");
            var totals = JsonNode.Parse(output)!["totals"]!;
            Assert.True(totals["errors"]!.GetValue<int>() == 0 && totals["warnings"]!.GetValue<int>() == 0, $"redocly lint found problems:\n{output}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// The web app generates its client from a committed copy of the document (as served outside Development). After a
    /// deliberate change to the API, refresh it: <c>UPDATE_OPENAPI_SNAPSHOT=1 dotnet test --project AssistenteIa.Tests -c Release
    /// --no-build -- --filter-class AssistenteIa.Tests.Integration.OpenApiTests</c>, and commit the file.
    /// </summary>
    [Fact]
    public async Task The_served_document_matches_the_web_apps_committed_copy()
    {
        var snapshot = Path.Combine(RepositoryRoot(), "AssistenteIa.Web", "openapi", "assistenteia-v1.json");
        var served = await DocumentAsync();

        // The test app runs in Development, whose key description names the seeded keys; the copy has the text of every other environment.
        var keyScheme = served["components"]!["securitySchemes"]!["ApiKey"]!;
        Assert.Equal(SwaggerSetup.DevelopmentApiKeyHelp, keyScheme["description"]!.GetValue<string>());
        keyScheme["description"] = SwaggerSetup.ApiKeyHelp;

        if (Environment.GetEnvironmentVariable("UPDATE_OPENAPI_SNAPSHOT") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(snapshot)!);
            var options = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            await File.WriteAllTextAsync(snapshot, served.ToJsonString(options) + "\n");
        }

        Assert.True(File.Exists(snapshot), $"{snapshot} is missing. {RefreshHint}");
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(snapshot));
        Assert.True(
            JsonNode.DeepEquals(served, committed),
            $"The served OpenAPI document differs from {snapshot} (first difference at {FirstDifference(served, committed, "#")}). {RefreshHint}");
    }

    [Fact]
    public async Task Swagger_UI_is_served()
    {
        using var client = fixture.CreateApiClient(apiKey: null);

        var html = await client.GetStringAsync("/swagger/index.html");

        Assert.Contains("swagger", html, StringComparison.OrdinalIgnoreCase);
    }

    private const string RefreshHint =
        "If the API changed on purpose, refresh the copy: UPDATE_OPENAPI_SNAPSHOT=1 dotnet test --project AssistenteIa.Tests -c Release --no-build -- "
        + "--filter-class AssistenteIa.Tests.Integration.OpenApiTests, then commit AssistenteIa.Web/openapi/assistenteia-v1.json (the web app's client is generated from it).";

    private async Task<JsonNode> DocumentAsync()
    {
        using var client = fixture.CreateApiClient(apiKey: null);
        return JsonNode.Parse(await client.GetStringAsync("/swagger/v1/swagger.json"))!;
    }

    private static IEnumerable<(string Path, string Method, JsonNode Operation)> Operations(JsonNode document) =>
        document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject().Select(op => (path.Key, op.Key, op.Value!)));

    private static IEnumerable<JsonNode> Parameters(JsonNode operation) =>
        operation["parameters"]?.AsArray().Select(p => p!) ?? [];

    /// <summary>The schema itself, following a <c>$ref</c> into the components.</summary>
    private static JsonNode Resolve(JsonNode document, JsonNode schema) =>
        schema["$ref"]?.GetValue<string>() is { } reference ? document["components"]!["schemas"]![reference.Split('/')[^1]]! : schema;

    private static IEnumerable<string> EnumOf(JsonNode document, JsonNode schema)
    {
        var resolved = Resolve(document, schema);
        Assert.Equal("string", resolved["type"]!.GetValue<string>());
        return resolved["enum"]!.AsArray().Select(v => v!.GetValue<string>());
    }

    private static string FirstDifference(JsonNode? a, JsonNode? b, string pointer)
    {
        if (a is JsonObject x && b is JsonObject y)
        {
            foreach (var key in x.Select(p => p.Key).Union(y.Select(p => p.Key)))
            {
                if (!x.ContainsKey(key) || !y.ContainsKey(key) || !JsonNode.DeepEquals(x[key], y[key]))
                {
                    return FirstDifference(x[key], y[key], $"{pointer}/{key.Replace("~", "~0").Replace("/", "~1")}");
                }
            }
        }
        else if (a is JsonArray m && b is JsonArray n && m.Count == n.Count)
        {
            for (var i = 0; i < m.Count; i++)
            {
                if (!JsonNode.DeepEquals(m[i], n[i]))
                {
                    return FirstDifference(m[i], n[i], $"{pointer}/{i}");
                }
            }
        }

        return pointer;
    }

    /// <summary>The directory holding AssistenteIa.sln, found by walking up from the test binaries.</summary>
    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "AssistenteIa.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No AssistenteIa.sln above {AppContext.BaseDirectory}.");
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
