using System.Text.Json;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Rules;
using AssistenteIaApi.ServiceB.Worker.Skills.Rules;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Tests.Rules;

/// <summary>Tenants' rules: what the sandbox lets through, what it refuses, and how the skill evaluates and bounds them.</summary>
public sealed class RuleSandboxTests
{
    private const string Facts = """
        {"amount":1500,"country":"BR","name":"Ana","zero":0,
         "items":[{"sku":"X1","qty":2,"price":10.5},{"sku":"Y2","qty":1,"price":4}],
         "tags":["vip","new"],"customer":{"since":"2020-01-31","score":0.7}}
        """;

    public static TheoryData<string> Hostile => new()
    {
        "data.GetType().Assembly",
        "data.GetType().Assembly.FullName != \"\"",
        "\"\".GetType().Assembly.GetTypes()",
        "\"\".GetType().Assembly.GetTypes().Length > 0",
        "System.IO.File.ReadAllText(\"/etc/passwd\")",
        "System.Diagnostics.Process.Start(\"sh\")",
        "Type.GetType(\"System.IO.File\")",
        "new System.Net.Http.HttpClient()",
        "data.GetType() != null",
        "data.name.GetType().Name == \"String\"",
        "System.Environment.MachineName == \"x\"",
        "System.AppDomain.CurrentDomain.FriendlyName != \"\"",
        "System.Activator.CreateInstance(\"System.Net.Http\", \"System.Net.Http.HttpClient\") != null",
        "data.name.PadLeft(1000000000) != \"\"",
        "data.name.Replace(\"a\", \"aaaaaaaaaaaaaaaa\").Length > 0",
        "data.tags.Aggregate(\"\", (a, t) => a + a + t) != \"\"",
        "data.tags.Aggregate((a, t) => a + a + t) != \"\"",
        "data.tags.Select(t => t + t).Aggregate() != \"\"",
        "Enumerable.Range(0, 1000000000).Count() > 0",
        "Enumerable.Repeat(data.name, 1000000000).Count() > 0",
        "data.items.Any(a => data.items.Any(b => data.items.Any(c => c.qty > 0)))",
        "data.amount.ToString(\"D999999999\") != \"\"",
        "data.As(\"System.IO.FileInfo\") != null",
        "new (data.name as a) != null",
        "data.amount >",
        "data.missing > 1",
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void A_hostile_or_malformed_expression_is_refused_naming_the_rule(string expression)
    {
        var errors = new Dictionary<string, string[]>();

        var prepared = Prepare([new RuleDefinition { Name = "fine", Expression = "data.amount > 0" }, new RuleDefinition { Name = "evil", Expression = expression }], errors);

        Assert.Null(prepared);
        Assert.Equal(["payload.rules[1].expression"], errors.Keys);
    }

    [Fact]
    public void A_hostile_output_is_refused_naming_the_output()
    {
        var errors = new Dictionary<string, string[]>();

        Prepare([new RuleDefinition { Name = "r", Expression = "true", Output = "data.GetType().Assembly.Location" }], errors);

        Assert.Equal(["payload.rules[0].output"], errors.Keys);
    }

    [Fact]
    public void Brackets_nested_deeper_than_the_parser_is_allowed_are_refused_instead_of_overflowing_the_stack()
    {
        var errors = new Dictionary<string, string[]>();
        var deep = new string('(', 999) + "true" + new string(')', 999);

        Prepare([new RuleDefinition { Name = "deep", Expression = deep }], errors);

        Assert.Contains("nests brackets", Assert.Single(errors["payload.rules[0].expression"]));
    }

    [Fact]
    public void A_long_chain_of_unary_operators_is_answered_without_crashing()
    {
        var errors = new Dictionary<string, string[]>();
        var chain = new string('!', 1996) + "true";

        var prepared = Prepare([new RuleDefinition { Name = "chain", Expression = chain }], errors);

        // Either answer is fine; reaching this line (no stack overflow) is the point. An even count of '!' keeps it true.
        if (prepared is not null)
        {
            Assert.Contains("chain", Matched(Evaluate(prepared)));
        }
    }

    [Fact]
    public void Ordinary_rules_match_exactly_as_expected_and_report_their_outputs()
    {
        var errors = new Dictionary<string, string[]>();
        var prepared = Prepare(
            [
                new RuleDefinition { Name = "big-br", Expression = "data.amount > 1000 && data.country == \"BR\"", Output = "data.amount * 0.1" },
                new RuleDefinition { Name = "starts-a", Expression = "data.name.StartsWith(\"A\") && data.name.ToUpper() == \"ANA\"" },
                new RuleDefinition { Name = "small", Expression = "data.amount < 10" },
                new RuleDefinition { Name = "x1-twice", Expression = "data.items.Any(i => i.sku == \"X1\" && i.qty >= 2)", Output = "data.items.Sum(i => i.qty * i.price)" },
                new RuleDefinition { Name = "vip", Expression = "data.tags.Contains(\"vip\") && data.customer.score > 0.5", Output = "data.name + \"/\" + data.country" },
                new RuleDefinition { Name = "exact", Expression = "data.customer.score + 0.2 == 0.9 && Math.Round(data.customer.score * 10) == 7" },
                new RuleDefinition { Name = "old-customer", Expression = "DateTime.Parse(data.customer.since).Year < 2021 && data.items.Count() == 2" },
                new RuleDefinition { Name = "none-expensive", Expression = "data.items.All(i => i.price > 100)" },
                new RuleDefinition { Name = "customer", Expression = "data.customer != null", Output = "data.customer" },
                new RuleDefinition { Name = "skus", Expression = "true", Output = "data.items.Where(i => i.qty > 1).Select(i => i.sku)" },
            ],
            errors);
        Assert.Empty(errors);

        var root = Evaluate(prepared!);

        Assert.Equal(["big-br", "starts-a", "x1-twice", "vip", "exact", "old-customer", "customer", "skus"], Matched(root));
        Assert.Equal(["small", "none-expensive"], root.GetProperty("notMatched").EnumerateArray().Select(e => e.GetString()));
        Assert.Empty(root.GetProperty("errors").EnumerateArray());
        Assert.Equal(150m, Output(root, "big-br").GetDecimal());
        Assert.Equal(25m, Output(root, "x1-twice").GetDecimal());
        Assert.Equal("Ana/BR", Output(root, "vip").GetString());
        Assert.Equal(JsonValueKind.Null, Output(root, "starts-a").ValueKind);
        Assert.Equal("""{"since":"2020-01-31","score":0.7}""", Output(root, "customer").GetRawText());
        Assert.Equal("""["X1"]""", Output(root, "skus").GetRawText());
    }

    [Fact]
    public void A_rule_that_fails_while_running_is_reported_as_an_error_and_the_others_still_run()
    {
        var prepared = Prepare(
            [
                new RuleDefinition { Name = "divides", Expression = "data.amount / data.zero > 1" },
                new RuleDefinition { Name = "fine", Expression = "data.amount > 1" },
            ],
            new Dictionary<string, string[]>());

        var result = Evaluate(prepared!);

        Assert.Equal(["fine"], Matched(result));
        var error = Assert.Single(result.GetProperty("errors").EnumerateArray());
        Assert.Equal("divides", error.GetProperty("name").GetString());
        Assert.Contains("divide", error.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("""{"values":[1,"one"]}""")]
    [InlineData("""{"items":[{"a":1},{"a":"x"}]}""")]
    [InlineData("""{"huge":1e40}""")]
    public void Data_that_cannot_be_read_as_facts_is_refused_naming_data(string data)
    {
        var errors = new Dictionary<string, string[]>();

        var prepared = RuleSandbox.Prepare(JsonDocument.Parse(data).RootElement, [new RuleDefinition { Name = "r", Expression = "true" }], errors);

        Assert.Null(prepared);
        Assert.Equal(["payload.data"], errors.Keys);
    }

    public static TheoryData<string, string> OversizedData => new()
    {
        { $$"""{"a":[{{string.Join(",", Enumerable.Repeat(0, RuleSandbox.MaxArrayLength + 1))}}]}""", "array" },
        { $$"""{"s":"{{new string('x', RuleSandbox.MaxStringLength + 1)}}"}""", "string" },
        { $$"""{"{{new string('k', RuleSandbox.MaxStringLength + 1)}}":1}""", "name" },
        { $$"""{{{string.Join(",", Enumerable.Range(0, 3).Select(p => $$"""
            "p{{p}}":[{{string.Join(",", Enumerable.Repeat(0, 800))}}]
            """))}}}""", "values" },
        { string.Concat(Enumerable.Repeat("{\"a\":", RuleSandbox.MaxDepth + 1)) + "1" + new string('}', RuleSandbox.MaxDepth + 1), "nest" },
    };

    [Theory]
    [MemberData(nameof(OversizedData))]
    public void Data_past_the_bounds_on_facts_is_refused_naming_data(string data, string bound)
    {
        var errors = new Dictionary<string, string[]>();

        var prepared = RuleSandbox.Prepare(JsonDocument.Parse(data).RootElement, [new RuleDefinition { Name = "r", Expression = "true" }], errors);

        Assert.Null(prepared);
        Assert.Contains(bound, Assert.Single(errors["payload.data"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_skill_records_the_rules_evaluated_at_no_model_cost()
    {
        var skill = Skill(new RulesOptions());

        var result = await skill.ExecuteAsync(Request([new RuleDefinition { Name = "a", Expression = "data.amount > 1" }, new RuleDefinition { Name = "b", Expression = "false" }]), CancellationToken.None);

        Assert.Equal(new ExecutionUsage(RuleSandbox.EngineModel, 0, 0, 2, "rules"), result.Usage);
        Assert.StartsWith("rulesengine-6.", result.Usage.Model);
        var artifact = Assert.Single(result.Artifacts);
        Assert.Equal(("rules", "application/json"), (artifact.Name, artifact.MediaType));
    }

    /// <summary>The largest facts allowed: a full array and a full string, which a depth-2 lambda can scan per pair of elements.</summary>
    private static readonly string WorstData =
        $$"""{"items":[{{string.Join(",", Enumerable.Range(0, RuleSandbox.MaxArrayLength).Select(i => i % 7))}}],"s":"{{new string('x', RuleSandbox.MaxStringLength)}}"}""";

    /// <summary>Quadratic iteration with string scans of the longest string inside: the worst shape the whitelist allows, repeated.</summary>
    private static readonly string WorstExpression =
        "data.items.Count(a => data.items.Count(b => " + string.Join(" || ", Enumerable.Repeat("data.s.Contains(\"xy\")", 60)) + ") > 0) > 0";

    [Fact]
    public async Task Rules_that_run_past_the_time_limit_fail_the_attempt_as_a_permanent_RuleTimeout()
    {
        // A step budget far beyond what 100 ms can spend, so the time limit is what stops the rule on any machine.
        var skill = Skill(new RulesOptions { EvaluationTimeout = TimeSpan.FromMilliseconds(100), MaxEvaluationSteps = 1_000_000_000 });
        var request = Request([new RuleDefinition { Name = "quadratic", Expression = WorstExpression }], WorstData);

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => skill.ExecuteAsync(request, CancellationToken.None));

        Assert.Equal((ErrorKind.Permanent, "RuleTimeout"), (error.Kind, error.Code));
        Assert.Equal(1, error.Usage.Units);
    }

    [Fact]
    public async Task A_rule_past_its_time_limit_stops_and_gives_its_slot_back_to_the_next_task()
    {
        // One slot: were the timed-out evaluation still running, the next task would wait for it and fail as RulesBusy.
        var options = new RulesOptions { EvaluationTimeout = TimeSpan.FromMilliseconds(200), MaxConcurrentEvaluations = 1, MaxEvaluationSteps = 1_000_000_000 };
        var skill = Skill(options);
        var runaway = Request([new RuleDefinition { Name = "quadratic", Expression = WorstExpression }], WorstData);

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => skill.ExecuteAsync(runaway, CancellationToken.None));
        Assert.Equal("RuleTimeout", error.Code);

        var next = await WithSlotWaitAsync(skill, Request([new RuleDefinition { Name = "a", Expression = "data.amount > 1" }]));
        Assert.Equal(1, next.Usage.Units);
    }

    [Fact]
    public void The_worst_rules_the_bounds_allow_end_quickly_by_spending_their_budget()
    {
        var errors = new Dictionary<string, string[]>();
        var rules = Enumerable.Range(0, RuleEngineContract.MaxRules).Select(i => new RuleDefinition { Name = $"r{i}", Expression = WorstExpression }).ToList();
        var prepared = RuleSandbox.Prepare(JsonDocument.Parse(WorstData).RootElement, rules, errors);
        Assert.Empty(errors);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<RuleBudgetExceededException>(() => RuleEngineSkill.Evaluate(prepared!, 1024 * 1024, CancellationToken.None));

        Assert.False(error.Cancelled);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"The worst case took {clock.Elapsed}.");
    }

    [Fact]
    public async Task Rules_that_need_more_work_than_the_budget_fail_as_a_permanent_RuleTooExpensive()
    {
        var skill = Skill(new RulesOptions { MaxEvaluationSteps = 10_000 });
        var request = Request([new RuleDefinition { Name = "quadratic", Expression = "data.items.Count(a => data.items.Count(b => b == a) > 0) > 0" }], WorstData);

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => skill.ExecuteAsync(request, CancellationToken.None));

        Assert.Equal((ErrorKind.Permanent, "RuleTooExpensive"), (error.Kind, error.Code));
    }

    /// <summary>Runs a task, allowing the slot a moment to come back (the stopped thread releases it as it ends).</summary>
    private static async Task<ExecutionResult> WithSlotWaitAsync(RuleEngineSkill skill, ExecutionRequest request)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (true)
        {
            try
            {
                return await skill.ExecuteAsync(request, CancellationToken.None);
            }
            catch (TaskExecutionException ex) when (ex.Code == "RulesBusy" && DateTime.UtcNow < deadline)
            {
            }
        }
    }

    [Fact]
    public async Task Outputs_larger_than_the_result_limit_fail_the_attempt_as_ResultTooLarge()
    {
        var skill = Skill(new RulesOptions { MaxResultBytes = 1024 });
        var request = Request([new RuleDefinition { Name = "big", Expression = "true", Output = "data.text + data.text" }], $$"""{"text":"{{new string('x', 800)}}"}""");

        var error = await Assert.ThrowsAsync<TaskExecutionException>(() => skill.ExecuteAsync(request, CancellationToken.None));

        Assert.Equal((ErrorKind.Permanent, "ResultTooLarge"), (error.Kind, error.Code));
    }

    private static PreparedRules? Prepare(List<RuleDefinition> rules, Dictionary<string, string[]> errors) =>
        RuleSandbox.Prepare(JsonDocument.Parse(Facts).RootElement, rules, errors);

    private static JsonElement Evaluate(PreparedRules prepared) =>
        JsonDocument.Parse(RuleEngineSkill.Evaluate(prepared, 1024 * 1024, CancellationToken.None)).RootElement;

    private static List<string?> Matched(JsonElement result) =>
        result.GetProperty("matched").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();

    private static JsonElement Output(JsonElement result, string rule) =>
        result.GetProperty("matched").EnumerateArray().Single(m => m.GetProperty("name").GetString() == rule).GetProperty("output");

    private static RuleEngineSkill Skill(RulesOptions options) => new(Options.Create(options), new RuleEvaluationSlots(Options.Create(options)));

    private static ExecutionRequest Request(List<RuleDefinition> rules, string data = Facts) =>
        new(Guid.NewGuid(), "tenant", 1, new TaskType(DomainType.DataAnalysis, CapabilityType.RuleEngine, ExecutionType.Async),
            new TaskPayload { Data = JsonDocument.Parse(data).RootElement, Rules = rules });
}
