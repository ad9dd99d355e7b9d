using AssistenteIa.Application.Files;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Webhooks;
using AssistenteIaApi.ServiceB.Worker.Skills;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Skills;

/// <summary>A task's URL inputs go through the SSRF guard when the worker fetches them: what the API's check at POST cannot see.</summary>
public sealed class TaskInputReaderTests
{
    [Theory]
    [InlineData("http://8.8.8.8:25/scan.png", "Input 1: Port 25 is not allowed; URLs may use port 80 or 443. Tasks may not reach it.")]
    [InlineData("http://10.1.2.3/scan.png", "Input 1: The URL leads to an internal address. Tasks may not reach it.")]
    public async Task A_url_input_the_guard_refuses_fails_the_attempt_for_good_and_says_why(string url, string message)
    {
        // No database: a URL input never reads one.
        var reader = new TaskInputReader(null!, new OutboundUrlPolicy(Options.Create(new OutboundOptions())), Options.Create(new FilesOptions()));
        var request = new ExecutionRequest(Guid.NewGuid(), "tenant", 1, new TaskType(DomainType.DataAnalysis, CapabilityType.Vision_OCR, ExecutionType.Async),
            new TaskPayload { Inputs = [new TaskInput { Url = url }] });

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => reader.ReadAsync(request, CancellationToken.None));

        Assert.Equal((ErrorKind.Permanent, "InputUrlRefused", message), (error.Kind, error.Code, error.Message));
    }
}
