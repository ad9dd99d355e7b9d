using System.Net;
using System.Text.Json;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Tests.Integration;

/// <summary>RuleEngine through the whole system: rules checked at POST, evaluated by ServiceB, matches kept as an artifact.</summary>
[Collection(AppCollection.Name)]
public sealed class RuleEngineTests(AppFixture fixture)
{
    private static readonly object Data = new
    {
        amount = 1500,
        country = "BR",
        name = "Ana",
        items = new[] { new { sku = "X1", qty = 2, price = 10.5 }, new { sku = "Y2", qty = 1, price = 4.0 } },
    };

    [Fact]
    public async Task A_workflow_matches_exactly_the_expected_rules_with_their_outputs_and_costs_nothing()
    {
        using var client = fixture.CreateApiClient();
        var rules = new object[]
        {
            new { name = "big-br", expression = "data.amount > 1000 && data.country == \"BR\"", output = "data.amount * 0.1" },
            new { name = "starts-a", expression = "data.name.StartsWith(\"A\")" },
            new { name = "foreign", expression = "data.country != \"BR\"" },
            new { name = "basket", expression = "data.items.Any(i => i.sku == \"X1\" && i.qty >= 2)", output = "data.items.Sum(i => i.qty * i.price)" },
            new { name = "tiny", expression = "data.amount < 10", output = "data.amount" },
        };

        var task = await TaskApi.CreateAsync(client, TaskApi.For("RuleEngine", new { data = Data, rules }));
        var done = await TaskApi.WaitForTerminalAsync(client, task.Id);

        Assert.Equal(AiTaskStatus.Succeeded, done.Status);
        var artifact = Assert.Single(await TaskApi.ArtifactsAsync(client, task.Id));
        Assert.Equal(("rules", "application/json"), (artifact.Name, artifact.MediaType));
        using var result = JsonDocument.Parse(artifact.Content!);
        var matched = result.RootElement.GetProperty("matched").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("output"));
        Assert.Equal(["big-br", "starts-a", "basket"], matched.Keys);
        Assert.Equal(150m, matched["big-br"].GetDecimal());
        Assert.Equal(25m, matched["basket"].GetDecimal());
        Assert.Equal(["foreign", "tiny"], result.RootElement.GetProperty("notMatched").EnumerateArray().Select(n => n.GetString()));

        var attempt = Assert.Single(await TaskApi.AttemptsAsync(client, task.Id));
        Assert.StartsWith("rulesengine-", attempt.Model);
        Assert.Equal((5L, "rules", 0m, 0L, 0L), (attempt.Units, attempt.Unit, attempt.Cost, attempt.TokensIn, attempt.TokensOut));
    }

    public static TheoryData<string, string> Hostile => new()
    {
        { "data.GetType().Assembly.FullName != \"\"", "expression" },
        { "\"\".GetType().Assembly.GetTypes().Length > 0", "expression" },
        { "System.IO.File.ReadAllText(\"/etc/passwd\") != \"\"", "expression" },
        { "System.Diagnostics.Process.Start(\"sh\") != null", "expression" },
        { "Type.GetType(\"System.IO.File\") != null", "expression" },
        { "new System.Net.Http.HttpClient() != null", "expression" },
        { "System.Environment.MachineName != \"\"", "expression" },
        { "data.name.PadLeft(1000000000) != \"\"", "expression" },
        { "data.items.Any(a => data.items.Any(b => data.items.Any(c => c.qty > 0)))", "expression" },
        { "data.nothing > 1", "expression" },
        { "data.GetType().Assembly.Location", "output" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task A_hostile_or_unusable_expression_is_refused_at_post_naming_the_rule_field_and_creates_nothing(string expression, string field)
    {
        using var client = fixture.CreateApiClient();
        var before = await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" """);
        var rules = new object[]
        {
            new { name = "fine", expression = "data.amount > 0" },
            field == "output" ? new { name = "evil", expression = "true", output = (string?)expression } : new { name = "evil", expression, output = (string?)null },
        };

        using var response = await TaskApi.PostAsync(client, TaskApi.For("RuleEngine", new { data = Data, rules }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await TaskApi.ProblemAsync(response);
        var errors = problem.GetProperty("errors");
        Assert.Equal([$"payload.rules[1].{field}"], errors.EnumerateObject().Select(e => e.Name));
        Assert.Equal(before, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "Tasks" """));
    }
}
