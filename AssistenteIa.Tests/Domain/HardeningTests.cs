using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using AssistenteIa.Application;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Commands.CreateTask;
using AssistenteIa.Domain;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Domain;

/// <summary>Pure rules added by the hardening review: stored texts, interruptions, late usage, prices, options, fingerprints.</summary>
public sealed class HardeningTests
{
    private static readonly DateTimeOffset Now = Tasks.Now;

    [Fact]
    public void Stored_text_loses_NUL_characters_and_is_cut_without_splitting_a_surrogate_pair()
    {
        Assert.Equal("ab", Texts.Fit("a\0b", 10));
        Assert.Equal("abc", Texts.Fit("abcdef", 3));

        // "x😀" is x + a surrogate pair: cutting at 2 would keep half of the emoji.
        Assert.Equal("x", Texts.Fit("x😀y", 2));
    }

    [Fact]
    public void A_huge_error_text_is_truncated_to_fit_its_column()
    {
        var task = Tasks.In(AiTaskStatus.Running);
        var attempt = Tasks.CurrentAttempt(task);

        task.FailAttempt(attempt, AttemptUsage.None, new string('C', 300), new string('x', 100_000) + "\0", ErrorKind.Transient, Tasks.Policy, 0.5, Now);

        Assert.Equal(AiTask.MaxErrorLength, task.LastError!.Length);
        Assert.Equal(TaskAttempt.MaxErrorCodeLength, attempt.ErrorCode!.Length);
        Assert.Equal(TaskAttempt.MaxErrorDetailLength, attempt.ErrorDetail!.Length);
        Assert.DoesNotContain('\0', attempt.ErrorDetail);
    }

    [Fact]
    public void An_interrupted_attempt_requeues_the_task_without_spending_one_of_its_attempts()
    {
        var task = Tasks.New(maxAttempts: 2);
        Tasks.Drive(task, AiTaskStatus.Queued);
        Tasks.Drive(task, AiTaskStatus.Reserved);
        Tasks.Drive(task, AiTaskStatus.Running);
        var interrupted = Tasks.CurrentAttempt(task);

        task.InterruptAttempt(interrupted, AttemptUsage.None, "deploy", Now);

        Assert.Equal(AiTaskStatus.Queued, task.Status);
        Assert.Equal(AttemptStatus.Interrupted, interrupted.Status);
        Assert.Null(task.LockedBy);

        // Second real attempt fails transiently: with the interruption counted it would be the last one.
        Tasks.Drive(task, AiTaskStatus.Reserved);
        Tasks.Drive(task, AiTaskStatus.Running);
        task.FailAttempt(Tasks.CurrentAttempt(task), AttemptUsage.None, "Http503", "busy", ErrorKind.Transient, Tasks.Policy, 0.5, Now);
        Assert.Equal(AiTaskStatus.Failed, task.Status);
        Assert.Equal(2, Tasks.CurrentAttempt(task).AttemptNo);
    }

    [Fact]
    public void A_task_whose_cancel_was_requested_is_cancelled_instead_of_requeued_when_its_worker_stops_or_its_reservation_lapses()
    {
        var running = Tasks.In(AiTaskStatus.Running);
        running.RequestCancel(Now);
        running.InterruptAttempt(Tasks.CurrentAttempt(running), AttemptUsage.None, "deploy", Now);

        var reserved = Tasks.In(AiTaskStatus.Reserved);
        reserved.RequestCancel(Now);
        reserved.ReleaseReservation(Now);

        Assert.Equal(AiTaskStatus.Cancelled, running.Status);
        Assert.Equal(AttemptStatus.Cancelled, Tasks.CurrentAttempt(running).Status);
        Assert.Equal(AiTaskStatus.Cancelled, reserved.Status);
    }

    [Fact]
    public void Usage_reported_after_a_takeover_is_recorded_once_and_only_on_an_attempt_closed_as_LeaseExpired()
    {
        var task = Tasks.In(AiTaskStatus.Running);
        var attempt = Tasks.CurrentAttempt(task);
        task.FailAttempt(attempt, AttemptUsage.None, TaskAttempt.LeaseExpiredCode, "worker paused", ErrorKind.Transient, Tasks.Policy, 0.5, Now);
        var usage = new AttemptUsage("local-echo-1", 1000, 0, 0.15m, 0.60m);

        Assert.True(attempt.RecordUsageAfterTakeover(usage));
        Assert.False(attempt.RecordUsageAfterTakeover(usage with { TokensIn = 5 }));

        Assert.Equal(1000, attempt.TokensIn);
        Assert.Equal(usage.Cost, attempt.Cost);
        Assert.Equal(AttemptStatus.Failed, attempt.Status);

        var other = Tasks.In(AiTaskStatus.Running);
        var failed = Tasks.CurrentAttempt(other);
        other.FailAttempt(failed, AttemptUsage.None, "Http503", "busy", ErrorKind.Transient, Tasks.Policy, 0.5, Now);
        Assert.False(failed.RecordUsageAfterTakeover(usage));
    }

    [Fact]
    public void Prices_are_found_by_requested_model_then_answered_model_then_longest_prefix()
    {
        var ai = new AiOptions
        {
            Prices =
            {
                ["gpt-4o"] = new ModelPrice { InputPerMillion = 2.5m },
                ["gpt-4o-mini"] = new ModelPrice { InputPerMillion = 0.15m },
            },
        };

        Assert.Equal(0.15m, ai.PriceOf("gpt-4o-mini", "gpt-4o-mini-2024-07-18")!.InputPerMillion);
        Assert.Equal(0.15m, ai.PriceOf("unknown", "gpt-4o-mini-2024-07-18")!.InputPerMillion);
        Assert.Equal(2.5m, ai.PriceOf(null, "gpt-4o-2024-08-06")!.InputPerMillion);
        Assert.Null(ai.PriceOf("llama-3", "llama-3-8b"));
    }

    [Fact]
    public void Allowed_models_are_the_default_the_listed_and_the_priced_ones()
    {
        var ai = new AiOptions { DefaultModel = "local-echo-1", Models = ["qwen2.5-7b"], Prices = { ["gpt-4o"] = new ModelPrice() } };

        Assert.Equal(["gpt-4o", "local-echo-1", "qwen2.5-7b"], ai.AllowedModels());
        Assert.True(ai.IsAllowed("GPT-4o"));
        Assert.False(ai.IsAllowed("gpt-5"));
    }

    [Fact]
    public void A_prefetch_that_could_outlast_the_broker_ack_timeout_is_refused()
    {
        var risky = new WorkerOptions { PrefetchCount = 16, MaxConcurrency = 1, AttemptTimeout = TimeSpan.FromMinutes(2) };
        var derived = new WorkerOptions { MaxConcurrency = 4, AttemptTimeout = TimeSpan.FromMinutes(2) };

        Assert.Contains(Validate(risky), r => r.MemberNames.Contains(nameof(WorkerOptions.PrefetchCount)));
        Assert.Empty(Validate(derived));
        Assert.Equal(8, derived.EffectivePrefetch);
        Assert.Equal(TimeSpan.FromSeconds(10), derived.EffectiveHeartbeatInterval);
    }

    [Theory]
    [InlineData(1, null, 2)]
    [InlineData(4, null, 8)]
    [InlineData(1, 1, 1)]
    [InlineData(2, 3, 3)]
    [InlineData(32, null, 64)]
    [InlineData(256, null, 288)]
    public void A_worker_handles_up_to_twice_its_slots_in_deliveries_at_once_within_its_prefetch(int slots, int? prefetch, int deliveries)
    {
        var options = new WorkerOptions { MaxConcurrency = slots, PrefetchCount = (ushort?)prefetch };

        Assert.Equal(deliveries, options.DeliveryConcurrency);
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("-12.5", true)]
    [InlineData("1e308", true)]
    [InlineData("9.99E+308", true)]
    [InlineData("1e309", false)]
    [InlineData("10e308", false)]
    [InlineData("0.001e311", true)]
    [InlineData("1e-308", true)]
    [InlineData("0.1e-308", false)]
    [InlineData("-1e-309", false)]
    [InlineData("0e308", true)]
    [InlineData("0.0e-309", false)]
    [InlineData("1e99999", false)]
    [InlineData("1e-99999999999999999999", false)]
    [InlineData("1e000308", true)]
    [InlineData("1E-000007", true)]
    [InlineData("1e0000000000000000001", true)]
    [InlineData("DIGITS 1000", true)]
    [InlineData("DIGITS 1001", false)]
    public void A_payload_number_must_fit_a_double_s_range_and_a_thousand_digits(string number, bool storable)
    {
        if (number.StartsWith("DIGITS ", StringComparison.Ordinal))
        {
            var digits = int.Parse(number["DIGITS ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            number = "0." + new string('7', digits - 1);
        }

        Assert.Equal(storable, CreateTaskValidator.IsStorableNumber(number));
    }

    [Theory]
    [InlineData("0", 1)]
    [InlineData("-1.5", 4)]
    [InlineData("1e3", 4)]
    [InlineData("1.25e1", 4)]
    [InlineData("1e-3", 5)]
    [InlineData("-2.5e-2", 6)]
    [InlineData("0e-2", 4)]
    [InlineData("1e308", 309)]
    [InlineData("123.4567e2", 8)]
    public void A_payload_number_is_counted_at_the_length_the_database_prints_it(string number, int stored)
    {
        // numeric never writes an exponent: 1e3 is 1000, 1e-3 is 0.001, 0e-2 is 0.00.
        Assert.Equal(stored, CreateTaskValidator.StoredLength(number));
    }

    [Theory]
    [InlineData(6)]
    [InlineData(4)]
    public void A_heartbeat_slower_than_a_third_of_the_lease_is_refused(int intervalSeconds)
    {
        // At half the lease an attempt fences itself when the next beat comes: every attempt longer than a beat raced it.
        var options = new WorkerOptions { LeaseDuration = TimeSpan.FromSeconds(10), HeartbeatInterval = TimeSpan.FromSeconds(intervalSeconds) };

        Assert.Contains(Validate(options), r => r.MemberNames.Contains(nameof(WorkerOptions.HeartbeatInterval)));
        Assert.Empty(Validate(new WorkerOptions { LeaseDuration = TimeSpan.FromSeconds(10), HeartbeatInterval = TimeSpan.FromSeconds(10) / 3 }));
    }

    [Fact]
    public void The_request_fingerprint_ignores_defaults_key_order_and_null_members()
    {
        var options = new TaskOptions { DefaultMaxAttempts = 3 };
        var parameters = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("""{"a":1,"b":{"y":2,"x":1}}""");
        var reordered = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>("""{"b":{"x":1,"y":2},"a":1}""");
        var type = new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async);
        var first = new CreateTaskCommand("t", type, Priority.Normal, new TaskPayload { Prompt = "p", Parameters = parameters }, null, null, "k");
        var retry = first with { MaxAttempts = 3, Payload = new TaskPayload { Prompt = "p", Parameters = reordered, Context = null } };
        var other = first with { Payload = new TaskPayload { Prompt = "q", Parameters = parameters } };

        Assert.Equal(RequestFingerprint.Of(first, options), RequestFingerprint.Of(retry, options));
        Assert.NotEqual(RequestFingerprint.Of(first, options), RequestFingerprint.Of(other, options));
        Assert.NotEqual(RequestFingerprint.Of(first, options), RequestFingerprint.Of(first with { MaxAttempts = 2 }, options));
    }

    [Fact]
    public void A_payload_repeating_a_key_still_has_a_fingerprint_that_tells_it_from_others()
    {
        var options = new TaskOptions();
        var type = new TaskType(DomainType.DataAnalysis, CapabilityType.LLM_Generation, ExecutionType.Async);
        TaskPayload With(string json) => new() { Prompt = "p", Parameters = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json) };
        var repeated = new CreateTaskCommand("t", type, Priority.Normal, With("""{"x":{"a":1,"a":2}}"""), null, null, "k");
        var other = repeated with { Payload = With("""{"x":{"a":1,"a":3}}""") };

        Assert.Equal(RequestFingerprint.Of(repeated, options), RequestFingerprint.Of(repeated, options));
        Assert.NotEqual(RequestFingerprint.Of(repeated, options), RequestFingerprint.Of(other, options));
    }

    private static List<ValidationResult> Validate(object options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
