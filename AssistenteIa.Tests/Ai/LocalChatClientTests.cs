using System.Net;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Ai;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Ai;

public sealed class LocalChatClientTests
{
    private static readonly TokenCounter Tokens = new();

    [Fact]
    public async Task The_local_model_answers_deterministically_with_real_token_counts()
    {
        var request = Request(CapabilityType.LLM_Generation, "Why was the payment refused?", "The card expired. The payment was refused by the bank. The customer is happy.");

        var first = await Executor().ExecuteAsync(request, CancellationToken.None);
        var second = await Executor().ExecuteAsync(request, CancellationToken.None);

        Assert.Equal(first, second);
        Assert.Contains("The payment was refused by the bank.", first.Output);
        Assert.Equal("local-echo-1", first.Usage.Model);
        Assert.Equal(Tokens.Count(first.Output), first.Usage.TokensOut);
        Assert.True(first.Usage.TokensIn > Tokens.Count("Why was the payment refused?"));
    }

    [Fact]
    public async Task Classification_picks_the_most_mentioned_label_given_in_parameters()
    {
        var request = Request(CapabilityType.LLM_Classification, "Which team?", "billing billing invoice bug", labels: ["bug", "billing"]);

        var result = await Executor().ExecuteAsync(request, CancellationToken.None);

        Assert.Equal("label: billing", result.Output);
    }

    [Fact]
    public async Task Simulated_failures_fail_the_first_attempts_only()
    {
        var simulation = new SimulationOptions { FailAttempts = 2, Failure = SimulatedFailure.Transient };

        var second = await Assert.ThrowsAsync<TaskExecutionException>(() => Executor().ExecuteAsync(Request(attemptNo: 2, simulation: simulation), CancellationToken.None));
        var third = await Executor().ExecuteAsync(Request(attemptNo: 3, simulation: simulation), CancellationToken.None);

        Assert.Equal(ErrorKind.Transient, second.Kind);
        Assert.False(string.IsNullOrEmpty(third.Output));
    }

    [Fact]
    public async Task A_simulated_permanent_failure_is_classified_permanent()
    {
        var simulation = new SimulationOptions { FailAttempts = 1, Failure = SimulatedFailure.Permanent };

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => Executor().ExecuteAsync(Request(simulation: simulation), CancellationToken.None));

        Assert.Equal(ErrorKind.Permanent, error.Kind);
        Assert.IsType<HttpRequestException>(error.InnerException);
        Assert.Equal(HttpStatusCode.BadRequest, ((HttpRequestException)error.InnerException!).StatusCode);
    }

    [Fact]
    public async Task Cancelling_a_slow_answer_reports_the_input_tokens_consumed()
    {
        using var cancel = new CancellationTokenSource();
        var running = Executor().ExecuteAsync(Request(simulation: new SimulationOptions { LatencyMs = 60_000 }), cancel.Token);

        await cancel.CancelAsync();

        var error = await Assert.ThrowsAsync<AttemptCancelledException>(() => running);
        Assert.True(error.Usage.TokensIn > 0);
        Assert.Equal(0, error.Usage.TokensOut);
    }

    private static ChatClientTaskExecutor Executor()
    {
        var options = new AiOptions();
        return new ChatClientTaskExecutor(ChatClientFactory.Create(options, null, Tokens, TimeProvider.System), Tokens, Options.Create(options));
    }

    private static ExecutionRequest Request(
        CapabilityType capability = CapabilityType.LLM_Generation,
        string prompt = "Summarise",
        string? context = "Some context.",
        string[]? labels = null,
        int attemptNo = 1,
        SimulationOptions? simulation = null) => new(
        Guid.NewGuid(),
        attemptNo,
        new TaskType(DomainType.DocumentProcessing, capability, ExecutionType.Async),
        new TaskPayload
        {
            Prompt = prompt,
            Context = context,
            Simulation = simulation,
            Parameters = labels is null ? null : new() { ["labels"] = System.Text.Json.JsonSerializer.SerializeToElement(labels) },
        });
}
