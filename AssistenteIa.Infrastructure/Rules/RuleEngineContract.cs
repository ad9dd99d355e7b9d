using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Capabilities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Infrastructure.Rules;

/// <summary>
/// RuleEngine: 1 to 100 uniquely named rules, and the facts (<c>data</c>, a JSON object) they read. Each expression is
/// parsed against the task's own data by <see cref="RuleSandbox"/>, the configuration the worker evaluates with, so a
/// malformed or forbidden expression is a 400 naming its field, not a dead letter later.
/// </summary>
public sealed class RuleEngineContract : ICapabilityContract
{
    public const int MaxRules = 100;
    public const int MaxExpressionLength = 2000;

    public CapabilityType Capability => CapabilityType.RuleEngine;

    public void Validate(TaskPayload payload, IDictionary<string, string[]> errors) => Prepare(payload, errors);

    /// <summary>The checks of <see cref="Validate"/>; when they all pass, the rules ready to evaluate, else null.</summary>
    public static PreparedRules? Prepare(TaskPayload payload, IDictionary<string, string[]> errors)
    {
        var before = errors.Count;
        if (payload.Data is not { ValueKind: JsonValueKind.Object } data)
        {
            Contract.Add(errors, "payload.data", "RuleEngine needs data: a JSON object the rules read as 'data'.");
            data = default;
        }

        var rules = payload.Rules ?? [];
        if (rules.Count is 0 or > MaxRules)
        {
            Contract.Add(errors, "payload.rules", $"RuleEngine needs 1 to {MaxRules} rules: [{{ name, expression, output }}].");
            return null;
        }

        if (rules.Select(r => r.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count() != rules.Count)
        {
            Contract.Add(errors, "payload.rules", "Rule names are unique.");
        }

        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (!Contract.IsName(rule.Name))
            {
                Contract.Add(errors, $"payload.rules[{i}].name", "A rule's name is letters, digits, '-', '_' and '.', up to 100 characters.");
            }

            if (string.IsNullOrWhiteSpace(rule.Expression) || rule.Expression.Length > MaxExpressionLength)
            {
                Contract.Add(errors, $"payload.rules[{i}].expression", $"expression is 1 to {MaxExpressionLength} characters.");
            }

            if (rule.Output is { } output && (string.IsNullOrWhiteSpace(output) || output.Length > MaxExpressionLength))
            {
                Contract.Add(errors, $"payload.rules[{i}].output", $"output, when given, is 1 to {MaxExpressionLength} characters.");
            }
        }

        // Parsing needs well-formed rules and data; their problems are already reported.
        return errors.Count == before ? RuleSandbox.Prepare(data, rules, errors) : null;
    }
}
