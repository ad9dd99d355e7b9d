using System.Text.Json;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

[Collection(AppCollection.Name)]
public sealed class ObservabilityTests(AppFixture fixture)
{
    [Fact]
    public async Task One_trace_spans_the_API_the_broker_and_the_worker_in_the_structured_log_files()
    {
        using var client = fixture.CreateApiClient();
        var task = await TaskApi.CreateAsync(client, TaskApi.Body(prompt: "trace me"));
        await TaskApi.WaitForStatusAsync(client, task.Id, AiTaskStatus.Succeeded);
        var taskId = task.Id.ToString();

        var created = await Eventually.UntilAsync(
            () => Task.FromResult(LogLines(new Projects.AssistenteIaApi().ProjectPath, taskId)),
            lines => lines.Any(l => l.GetProperty("@mt").GetString()!.StartsWith("Task {TaskId} created", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(15),
            "the API's log line for the task");
        var executed = await Eventually.UntilAsync(
            () => Task.FromResult(LogLines(new Projects.AssistenteIaApi_ServiceB_Worker().ProjectPath, taskId)),
            lines => lines.Any(l => l.GetProperty("@mt").GetString()!.Contains("ended", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(15),
            "the worker's log line for the task");

        var apiTrace = created.First().GetProperty("@tr").GetString();
        Assert.False(string.IsNullOrEmpty(apiTrace));

        // The lines of the delivery's handling; the lease heartbeat runs on its own, outside any task's trace (a beat
        // racing the outcome's save once logged the lease as no longer held, in CI).
        var handled = executed.Where(l => l.GetProperty("SourceContext").GetString() != "AssistenteIa.Application.Tasks.Commands.ExecuteTask.RenewLeasesHandler").ToList();
        Assert.NotEmpty(handled);
        Assert.All(handled, line => Assert.Equal(apiTrace, line.GetProperty("@tr").GetString()));
        Assert.All(handled, line => Assert.Equal(task.CorrelationId, line.GetProperty("CorrelationId").GetString()));
    }

    /// <summary>Lines of a service's rolling log files (logs/ beside its project) that name the task.</summary>
    private static List<JsonElement> LogLines(string projectPath, string taskId)
    {
        var folder = Path.Combine(Path.GetDirectoryName(projectPath)!, "logs");
        if (!Directory.Exists(folder))
        {
            return [];
        }

        var lines = new List<JsonElement>();
        foreach (var file in Directory.GetFiles(folder, "*.log"))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                if (line.Contains(taskId, StringComparison.Ordinal) && line.StartsWith('{') && line.EndsWith('}'))
                {
                    using var document = JsonDocument.Parse(line);
                    if (document.RootElement.TryGetProperty("TaskId", out var id) && id.GetString() == taskId)
                    {
                        lines.Add(document.RootElement.Clone());
                    }
                }
            }
        }

        return lines;
    }
}
