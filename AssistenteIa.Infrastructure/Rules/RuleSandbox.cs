using System.Dynamic;
using System.Linq.Dynamic.Core.Exceptions;
using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using AssistenteIa.Application.Tasks;
using AssistenteIa.Application.Tasks.Capabilities;
using RulesEngine.ExpressionBuilders;
using RulesEngine.Models;

namespace AssistenteIa.Infrastructure.Rules;

/// <summary>A tenant's rules, checked and ready for RulesEngine: the workflow and the facts as its <c>data</c> input.</summary>
public sealed record PreparedRules(Workflow Workflow, RuleParameter Data, IReadOnlyList<RuleDefinition> Rules);

/// <summary>
/// The one configuration of RulesEngine for tenants' rules, shared by the API (which checks a task's rules when it is
/// posted) and ServiceB (which evaluates them): the same settings, the same conversion of <c>data</c> and the same parser,
/// so an expression that passes at POST is the expression the worker compiles. Every expression is parsed by
/// RulesEngine's own parser and its tree checked against <see cref="RuleExpressionGuard"/>'s whitelist.
/// </summary>
public static class RuleSandbox
{
    public const string WorkflowName = "task";
    public const string DataParameter = "data";
    public const string OutputAction = "OutputExpression";

    /// <summary>Bounds the recursion of the parser (a stack overflow would end the process, not the request).</summary>
    public const int MaxBracketDepth = 24;

    public const int MaxConditionals = 40;

    /// <summary>The version of the engine, as recorded in each attempt's <c>Model</c>.</summary>
    public static string EngineModel { get; } = $"rulesengine-{Version(typeof(RulesEngine.RulesEngine).Assembly)} (local)";

    // The parser keeps its parsing configuration; expressions are parsed, never compiled or run, through this one.
    private static readonly RuleExpressionParser Parser = new(CreateSettings());

    /// <summary>
    /// Settings for every engine that runs tenants' rules: no input types registered as callable, no scoped
    /// parameters, case-sensitive names (JSON's), and errors reported per rule instead of thrown.
    /// </summary>
    public static ReSettings CreateSettings() => new()
    {
        CustomTypes = [],
        AutoRegisterInputType = false,
        EnableScopedParams = false,
        IsExpressionCaseSensitive = true,
        EnableExceptionAsErrorMessage = true,
        EnableExceptionAsErrorMessageForRuleExpressionParsing = true,
        IgnoreException = false,
        UseFastExpressionCompiler = false,
        AutoExecuteActions = true,
    };

    /// <summary>
    /// Converts <paramref name="data"/>, parses and checks every expression; adds an error per problem, keyed by the
    /// payload field, and returns null when there is any.
    /// </summary>
    public static PreparedRules? Prepare(JsonElement data, IReadOnlyList<RuleDefinition> rules, IDictionary<string, string[]> errors)
    {
        RuleParameter input;
        try
        {
            input = new RuleParameter(DataParameter, ToFacts(data));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidCastException or FormatException or OverflowException or InvalidOperationException or NotSupportedException or TargetInvocationException)
        {
            Contract.Add(errors, "payload.data", "data cannot be read as facts: each array must hold values of one kind (all numbers, all strings, or objects whose same-named fields have the same kind), and names must not be empty or repeated.");
            return null;
        }

        var dataTypes = RuleExpressionGuard.DataTypesOf(input.Type);
        ParameterExpression[] parameters = [input.ParameterExpression];
        var before = errors.Count;
        for (var i = 0; i < rules.Count; i++)
        {
            if (Check(rules[i].Expression, parameters, typeof(bool), dataTypes) is { } problem)
            {
                Contract.Add(errors, $"payload.rules[{i}].expression", problem);
            }

            if (rules[i].Output is { } output && Check(output, parameters, null, dataTypes) is { } outputProblem)
            {
                Contract.Add(errors, $"payload.rules[{i}].output", outputProblem);
            }
        }

        if (errors.Count > before)
        {
            return null;
        }

        var workflow = new Workflow
        {
            WorkflowName = WorkflowName,
            Rules = rules.Select(r => new Rule
            {
                RuleName = r.Name,
                Expression = r.Expression,
                RuleExpressionType = RuleExpressionType.LambdaExpression,
                Actions = r.Output is null ? null : new RuleActions
                {
                    OnSuccess = new ActionInfo { Name = OutputAction, Context = new Dictionary<string, object> { ["expression"] = r.Output } },
                },
            }).ToList(),
        };
        return new PreparedRules(workflow, input, rules);
    }

    /// <summary>Null when <paramref name="expression"/> parses as RulesEngine will parse it and keeps to the whitelist, else why not.</summary>
    private static string? Check(string expression, ParameterExpression[] parameters, Type? returnType, HashSet<Type> dataTypes)
    {
        if (CheckShape(expression) is { } shape)
        {
            return shape;
        }

        Expression parsed;
        try
        {
            parsed = Parser.Parse(expression, parameters, returnType);
        }
        catch (ParseException ex)
        {
            return $"The expression does not parse at position {ex.Position}: {ex.Message}";
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or NotSupportedException or InvalidCastException or AmbiguousMatchException)
        {
            return $"The expression does not parse: {ex.Message}";
        }

        return RuleExpressionGuard.Check(parsed, dataTypes);
    }

    /// <summary>Bounds on nesting that hold before the parser (which recurses per bracket and per conditional) sees the text.</summary>
    private static string? CheckShape(string expression)
    {
        var depth = 0;
        var conditionals = 0;
        char? quote = null;
        for (var i = 0; i < expression.Length; i++)
        {
            var c = expression[i];
            if (quote is { } open)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == open)
                {
                    quote = null;
                }

                continue;
            }

            switch (c)
            {
                case '"' or '\'':
                    quote = c;
                    break;
                case '(' or '[' or '{':
                    if (++depth > MaxBracketDepth)
                    {
                        return $"The expression nests brackets more than {MaxBracketDepth} deep.";
                    }

                    break;
                case ')' or ']' or '}':
                    depth--;
                    break;
                case '?':
                    if (++conditionals > MaxConditionals)
                    {
                        return $"The expression has more than {MaxConditionals} conditional operators.";
                    }

                    break;
            }
        }

        return null;
    }

    /// <summary>
    /// JSON as RulesEngine reads facts: objects as <see cref="ExpandoObject"/> (which it turns into typed classes),
    /// arrays as lists, numbers as <see cref="decimal"/> (exact: with <c>"score": 0.7</c>, <c>data.score + 0.2 == 0.9</c> holds).
    /// </summary>
    private static object? ToFacts(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => ToExpando(element),
        JsonValueKind.Array => element.EnumerateArray().Select(ToFacts).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetDecimal(out var number) ? number : throw new OverflowException("A number in data is outside the decimal range."),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private static ExpandoObject ToExpando(JsonElement element)
    {
        var expando = new ExpandoObject();
        var properties = (IDictionary<string, object?>)expando;
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name.Length == 0)
            {
                throw new ArgumentException("An empty name in data.");
            }

            properties.Add(property.Name, ToFacts(property.Value));
        }

        return expando;
    }

    private static string Version(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString() ?? "unknown";
        var metadata = version.IndexOf('+', StringComparison.Ordinal);
        return metadata < 0 ? version : version[..metadata];
    }
}
