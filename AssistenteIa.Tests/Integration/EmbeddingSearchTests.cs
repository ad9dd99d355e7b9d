using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AssistenteIa.Application.Collections;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

/// <summary>Collections through the API and ServiceB: documents are chunked and embedded by tasks, searches rank them.</summary>
[Collection(AppCollection.Name)]
public sealed class EmbeddingSearchTests(AppFixture fixture)
{
    [Fact]
    public async Task A_search_over_a_small_collection_ranks_the_relevant_document_first()
    {
        using var client = fixture.CreateApiClient();
        var collection = "kb-" + Guid.NewGuid().ToString("N")[..8];
        var refund = await AddAsync(client, collection, "Refunds are paid back to the card used for the payment within five business days. To ask for a refund, open a ticket with the order number.", "refunds");
        await AddAsync(client, collection, "Our offices are open from 9 to 18 on weekdays and closed on public holidays.", "hours");
        await AddAsync(client, collection, "Passwords must have at least twelve characters. Reset a forgotten password from the sign-in page.", "security");

        var search = await TaskApi.CreateAsync(client, TaskApi.For("Embedding_Search", new { search = new { collection, query = "how do I get my payment refunded?", topK = 2 } }));
        var done = await TaskApi.WaitForTerminalAsync(client, search.Id);

        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        var results = (await ResultsAsync(client, search.Id)).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, results.Count);
        Assert.Equal(refund.Id, results[0].GetProperty("documentId").GetGuid());
        Assert.Equal("refunds", results[0].GetProperty("metadata").GetProperty("title").GetString());
        Assert.True(results[0].GetProperty("score").GetDouble() > results[1].GetProperty("score").GetDouble());
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, search.Id));
        // Priced by the embedding model's own entry (the test app sets 0.001 per unit), not by the default chat model's.
        Assert.Equal(("local-hashed-ngrams-v1", 1L, "queries", 0.001m), (attempt.Model, attempt.Units, attempt.Unit, attempt.Cost));

        var collections = await client.GetFromJsonAsync<List<CollectionDto>>("/api/v1/collections", Json.Options);
        var listed = Assert.Single(collections!, c => c.Name == collection);
        Assert.Equal(3, listed.Documents);
    }

    [Fact]
    public async Task A_document_added_after_a_search_is_found_by_the_next_search()
    {
        using var client = fixture.CreateApiClient();
        var collection = "fresh-" + Guid.NewGuid().ToString("N")[..8];
        await AddAsync(client, collection, "The cafeteria serves lunch from noon to two.", "lunch");
        Assert.Single((await SearchAsync(client, collection, "volcano eruption seismic")).EnumerateArray());

        // The index in ServiceB now holds the collection; a new document must not be missed by the next search.
        var volcano = await AddAsync(client, collection, "A volcano eruption follows seismic activity under the mountain.", "volcano");
        var results = (await SearchAsync(client, collection, "volcano eruption seismic")).EnumerateArray().ToList();

        Assert.Equal(2, results.Count);
        Assert.Equal(volcano.Id, results[0].GetProperty("documentId").GetGuid());
        var listed = Assert.Single((await client.GetFromJsonAsync<List<CollectionDto>>("/api/v1/collections", Json.Options))!, c => c.Name == collection);
        Assert.Equal((2, 2), (listed.Documents, listed.Chunks));
    }

    [Fact]
    public async Task Another_tenants_collection_of_the_same_name_is_not_searched()
    {
        using var owner = fixture.CreateApiClient();
        using var other = fixture.CreateApiClient(AppFixture.TenantBKey);
        var collection = "private-" + Guid.NewGuid().ToString("N")[..8];
        await AddAsync(owner, collection, "The launch code for project falcon is kept in the vault.", "secret");

        var search = await TaskApi.CreateAsync(other, TaskApi.For("Embedding_Search", new { search = new { collection, query = "project falcon launch code", topK = 5 } }));
        await TaskApi.WaitForStatusAsync(other, search.Id, AiTaskStatus.Succeeded);

        Assert.Empty((await ResultsAsync(other, search.Id)).GetProperty("results").EnumerateArray());
    }

    [Fact]
    public async Task A_document_with_a_bad_collection_name_or_no_text_is_400()
    {
        using var client = fixture.CreateApiClient();

        using var badName = await client.PostAsJsonAsync("/api/v1/collections/bad%20name!/documents", new { text = "x" });
        using var noText = await client.PostAsJsonAsync("/api/v1/collections/ok/documents", new { text = " " });

        Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);
        Assert.True((await TaskApi.ProblemAsync(badName)).GetProperty("errors").TryGetProperty("payload.document.collection", out _));
        Assert.Equal(HttpStatusCode.BadRequest, noText.StatusCode);
        await TaskApi.ProblemAsync(noText);
    }

    private static async Task<TaskDto> AddAsync(HttpClient client, string collection, string text, string title)
    {
        using var response = await client.PostAsJsonAsync($"/api/v1/collections/{collection}/documents", new { text, metadata = new { title } });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var task = (await response.Content.ReadFromJsonAsync<TaskDto>(Json.Options))!;
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);
        return task;
    }

    private static async Task<JsonElement> SearchAsync(HttpClient client, string collection, string query)
    {
        var search = await TaskApi.CreateAsync(client, TaskApi.For("Embedding_Search", new { search = new { collection, query, topK = 5 } }));
        await TaskApi.WaitForStatusAsync(client, search.Id, AiTaskStatus.Succeeded);
        return (await ResultsAsync(client, search.Id)).GetProperty("results");
    }

    private static async Task<JsonElement> ResultsAsync(HttpClient client, Guid taskId)
    {
        var artifact = Assert.Single(await TaskApi.ArtifactsAsync(client, taskId));
        Assert.Equal(("results", "application/json"), (artifact.Name, artifact.MediaType));
        return JsonDocument.Parse(artifact.Content!).RootElement;
    }
}
