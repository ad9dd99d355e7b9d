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

        Assert.Equal((first.Output, first.Usage), (second.Output, second.Usage));
        Assert.Contains("The payment was refused by the bank.", first.Output);
        Assert.Equal("local-echo-1", first.Usage.Model);
        Assert.Equal(Tokens.Count(first.Output), first.Usage.TokensOut);
        Assert.True(first.Usage.TokensIn > Tokens.Count("Why was the payment refused?"));
    }

    [Fact]
    public async Task Classification_picks_the_most_mentioned_label_given_in_labels()
    {
        var request = Request(CapabilityType.LLM_Classification, "Which team?", "billing billing invoice bug", labels: ["bug", "billing"]);

        var result = await Executor().ExecuteAsync(request, CancellationToken.None);

        Assert.Equal("label: billing", result.Output);
    }

    [Fact]
    public async Task The_classification_skill_returns_the_label_and_a_smoothed_confidence_as_json()
    {
        var request = Request(CapabilityType.LLM_Classification, "Which team?", "billing billing invoice bug", labels: ["bug", "billing"]);

        var result = await new ClassificationSkill(Executor()).ExecuteAsync(request, CancellationToken.None);

        // billing 2 mentions, bug 1: (2 + 1) / (3 + 2).
        var artifact = Assert.Single(result.Artifacts);
        Assert.Equal("classification", artifact.Name);
        Assert.Equal("""{"label":"billing","confidence":0.6}""", artifact.Content);
    }

    [Fact]
    public async Task The_reasoning_skill_returns_the_conclusion_and_the_steps_as_separate_artifacts()
    {
        var request = Request(CapabilityType.LLM_Reasoning, "Why was the payment refused?", "The card expired. The payment was refused by the bank.");

        var result = await new ReasoningSkill(Executor()).ExecuteAsync(request, CancellationToken.None);

        Assert.Equal(["conclusion", "steps"], result.Artifacts.Select(a => a.Name));
        Assert.Equal("the facts above answer the question.", result.Artifacts[0].Content);
        var steps = System.Text.Json.JsonSerializer.Deserialize<string[]>(result.Artifacts[1].Content!)!;
        Assert.Equal(2, steps.Length);
        Assert.Contains("The payment was refused by the bank.", steps[1]);
    }

    [Theory]
    [InlineData("label: Bug", "bug")]
    [InlineData("I would say this is about billing, maybe a bug.", "billing")]
    [InlineData("{\"label\": \"BILLING\"}", "billing")]
    public void A_classification_in_prose_or_without_confidence_is_still_read(string answer, string expected)
    {
        var result = ClassificationSkill.Read(answer, ["bug", "billing"]);

        Assert.Equal(new ClassificationResult(expected, null), result);
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
        "tenant-a",
        attemptNo,
        new TaskType(DomainType.DocumentProcessing, capability, ExecutionType.Async),
        new TaskPayload
        {
            Prompt = prompt,
            Context = context,
            Simulation = simulation,
            Labels = labels?.ToList(),
        });
}
