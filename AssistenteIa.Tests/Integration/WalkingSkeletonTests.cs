using System.Net;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

[Collection(AppCollection.Name)]
public sealed class WalkingSkeletonTests(AppFixture fixture)
{
    [Fact]
    public async Task Every_resource_of_the_AppHost_becomes_healthy()
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        foreach (var name in new[] { "db", "rabbitmq", "api", "serviceb", "servicec" })
        {
            await fixture.App.ResourceNotifications.WaitForResourceHealthyAsync(name, deadline.Token);
        }

        using var client = fixture.CreateApiClient(apiKey: null);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/alive")).StatusCode);
    }

    [Fact]
    public async Task A_posted_task_is_executed_by_the_worker_and_its_output_stored()
    {
        using var client = fixture.CreateApiClient();

        using var response = await TaskApi.PostAsync(client, TaskApi.Body(prompt: "Why was the payment refused?"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var created = await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<AssistenteIa.Application.Tasks.TaskDto>(response.Content, Json.Options);
        Assert.Equal($"/api/v1/tasks/{created!.Id}", response.Headers.Location?.OriginalString);

        var done = await TaskApi.WaitForStatusAsync(client, created.Id, AiTaskStatus.Succeeded);

        Assert.Equal(1, done.AttemptCount);
        var artifacts = await TaskApi.ArtifactsAsync(client, created.Id);
        var output = Assert.Single(artifacts);
        Assert.Equal(ArtifactKind.Text, output.Kind);
        Assert.Contains("Payment failed twice.", output.Content);
        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, created.Id));
        Assert.Equal(AttemptStatus.Succeeded, attempt.Status);
        Assert.True(attempt.TokensIn > 0 && attempt.TokensOut > 0);
        Assert.Equal("local-echo-1", attempt.Model);
    }
}
