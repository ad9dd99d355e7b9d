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
public sealed record PreparedRules(Workflow Workflow, RuleParameter Data, IReadOnlyList<RuleDefinition> Rules)
{
    /// <summary>Each rule's condition and output as parsed and checked, in the rules' order: what the worker compiles.</summary>
    public IReadOnlyList<CheckedRule> Checked { get; init; } = [];
}

/// <summary>A rule's parsed and whitelisted trees over the <see cref="Parameter"/> that stands for <c>data</c>.</summary>
public sealed record CheckedRule(string Name, ParameterExpression Parameter, Expression Condition, Expression? Output);

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
        // Checked before any conversion: the rules' work grows with the facts' size (and the facts' shape decides the types made for them).
        if (CheckBounds(data) is { } bounds)
        {
            Contract.Add(errors, "payload.data", bounds);
            return null;
        }

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
        var checkedRules = new List<CheckedRule>();
        for (var i = 0; i < rules.Count; i++)
        {
            if (Check(rules[i].Expression, parameters, typeof(bool), dataTypes, out var condition) is { } problem)
            {
                Contract.Add(errors, $"payload.rules[{i}].expression", problem);
            }

            Expression? parsedOutput = null;
            if (rules[i].Output is { } output && Check(output, parameters, null, dataTypes, out parsedOutput) is { } outputProblem)
            {
                Contract.Add(errors, $"payload.rules[{i}].output", outputProblem);
            }

            if (condition is not null)
            {
                checkedRules.Add(new CheckedRule(rules[i].Name, input.ParameterExpression, condition, parsedOutput));
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
        return new PreparedRules(workflow, input, rules) { Checked = checkedRules };
    }

    /// <summary>Null when <paramref name="expression"/> parses as RulesEngine will parse it and keeps to the whitelist, else why not.</summary>
    private static string? Check(string expression, ParameterExpression[] parameters, Type? returnType, HashSet<Type> dataTypes, out Expression? tree)
    {
        tree = null;
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

        var refused = RuleExpressionGuard.Check(parsed, dataTypes);
        tree = refused is null ? parsed : null;
        return refused;
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

    /// <summary>The most elements an array in <c>data</c> may hold: with two levels of iteration, a rule does at most its square of work.</summary>
    public const int MaxArrayLength = 1000;

    /// <summary>The longest string (value or name) in <c>data</c>: each string method call inside a rule scans at most this much.</summary>
    public const int MaxStringLength = 4096;

    /// <summary>The most values (objects, arrays, scalars) in <c>data</c>; also bounds its distinct property names, each of which becomes part of a generated type.</summary>
    public const int MaxValues = 2000;

    /// <summary>The deepest nesting of objects and arrays in <c>data</c>.</summary>
    public const int MaxDepth = 10;

    /// <summary>Null when <paramref name="data"/> keeps to the bounds on facts, else which bound it breaks.</summary>
    public static string? CheckBounds(JsonElement data)
    {
        var values = 0;
        return Walk(data, 0);

        string? Walk(JsonElement element, int depth)
        {
            if (++values > MaxValues)
            {
                return $"data may hold at most {MaxValues} values (objects, arrays, numbers, strings, booleans and nulls together).";
            }

            if (depth > MaxDepth)
            {
                return $"data may nest objects and arrays at most {MaxDepth} deep.";
            }

            switch (element.ValueKind)
            {
                case JsonValueKind.String when element.GetString()!.Length > MaxStringLength:
                    return $"A string in data may be at most {MaxStringLength} characters.";
                case JsonValueKind.Array when element.GetArrayLength() > MaxArrayLength:
                    return $"An array in data may hold at most {MaxArrayLength} elements.";
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        if (Walk(item, depth + 1) is { } problem)
                        {
                            return problem;
                        }
                    }

                    break;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        if (property.Name.Length > MaxStringLength)
                        {
                            return $"A name in data may be at most {MaxStringLength} characters.";
                        }

                        if (Walk(property.Value, depth + 1) is { } problem)
                        {
                            return problem;
                        }
                    }

                    break;
            }

            return null;
        }
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
