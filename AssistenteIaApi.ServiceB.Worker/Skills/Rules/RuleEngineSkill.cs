using System.Linq.Expressions;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Rules;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.ServiceB.Worker.Skills.Rules;

/// <summary>The <c>rules</c> artifact: which rules matched (with their output), which did not, and which failed to evaluate.</summary>
public sealed record RulesResult(IReadOnlyList<RuleMatch> Matched, IReadOnlyList<string> NotMatched, IReadOnlyList<RuleError> Errors);

public sealed record RuleMatch(
    string Name,
    object? Output,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? OutputError = null);

public sealed record RuleError(string Name, string Error);

/// <summary>
/// RuleEngine: evaluates the task's rules over its <c>data</c> with Microsoft's RulesEngine, under the configuration
/// the API checked them with (<see cref="RuleSandbox"/>). No model is called; the attempt records the rules evaluated.
/// </summary>
/// <remarks>
/// .NET cannot abort a thread, so the compiled rules stop themselves (see <see cref="Evaluate"/>): past
/// <see cref="RulesOptions.EvaluationTimeout"/> the attempt fails as <c>RuleTimeout</c> and the evaluation throws at its
/// next step, giving back its thread and its slot. Facts are bounded at POST (<see cref="RuleSandbox.CheckBounds"/>).
/// Still open: the facts' types come from System.Linq.Dynamic.Core's DynamicClassFactory, which keeps one per distinct
/// shape of data for the life of the process (at most <see cref="RuleSandbox.MaxValues"/> names per task, but without
/// bound across tasks).
/// </remarks>
public sealed class RuleEngineSkill(IOptions<RulesOptions> options, RuleEvaluationSlots slots) : ITaskSkill
{
    public const string Unit = "rules";
    public const string ArtifactName = "rules";

    /// <summary>Generous, so the parser's and the compiler's recursion never reach the end of the stack.</summary>
    private const int StackBytes = 16 * 1024 * 1024;

    public CapabilityType Capability => CapabilityType.RuleEngine;

    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var errors = new Dictionary<string, string[]>();

        // Checked at POST already; checked again because a payload stored before a tightening of the rules must not run.
        var prepared = RuleEngineContract.Prepare(request.Payload, errors)
            ?? throw new TaskExecutionException(ErrorKind.Permanent, "InvalidRules", string.Join(" ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")));
        var usage = new ExecutionUsage(RuleSandbox.EngineModel, 0, 0, prepared.Rules.Count, Unit);

        if (!await slots.WaitAsync(settings.EvaluationTimeout, cancellationToken))
        {
            throw new TaskExecutionException(ErrorKind.Transient, "RulesBusy", "Every rule evaluation slot of the worker is busy; the task will be retried.", usage with { Units = 0 });
        }

        using var stop = new CancellationTokenSource();
        var evaluation = StartEvaluation(prepared, settings.MaxResultBytes, settings.MaxEvaluationSteps, stop.Token);
        try
        {
            var json = await evaluation.WaitAsync(settings.EvaluationTimeout, cancellationToken);
            return new ExecutionResult([new ArtifactOutput(ArtifactKind.Text, ArtifactName, ArtifactOutput.JsonMediaType, json)], usage);
        }
        catch (TimeoutException)
        {
            await stop.CancelAsync();
            throw new TaskExecutionException(ErrorKind.Permanent, "RuleTimeout", $"The rules did not finish evaluating within {settings.EvaluationTimeout}.", usage);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await stop.CancelAsync();
            throw new AttemptCancelledException(usage, cancellationToken);
        }
        catch (RuleBudgetExceededException ex) when (!ex.Cancelled)
        {
            throw new TaskExecutionException(ErrorKind.Permanent, "RuleTooExpensive", $"The rules need more than {settings.MaxEvaluationSteps} steps of work (elements read, calls, characters scanned) to evaluate.", usage);
        }
        catch (ResultTooLargeException)
        {
            throw new TaskExecutionException(ErrorKind.Permanent, "ResultTooLarge", $"The rules' outputs are larger than {settings.MaxResultBytes} bytes.", usage);
        }
    }

    /// <summary>Runs the engine on a thread of its own, which gives back its slot only when the engine has really finished.</summary>
    private Task<string> StartEvaluation(PreparedRules prepared, int maxResultBytes, long maxSteps, CancellationToken stop)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(
            () =>
            {
                try
                {
                    done.TrySetResult(Evaluate(prepared, maxResultBytes, stop, maxSteps));
                }
                catch (Exception ex)
                {
                    done.TrySetException(ex);
                }
                finally
                {
                    slots.Release();
                }
            },
            StackBytes)
        {
            IsBackground = true,
            Name = "rule-evaluation",
        };
        thread.Start();
        return done.Task;
    }

    /// <summary>
    /// Evaluates the checked rules and writes the artifact, both on the evaluation thread: outputs can be lazy sequences.
    /// </summary>
    /// <remarks>
    /// The trees RulesEngine's parser made (and the guard passed at POST and again here) are compiled here rather than
    /// by RulesEngine, because its engine compiles from the text and offers no hook into the tree: rewritten by
    /// <see cref="RuleBudgetRewriter"/>, each rule pays a step per lambda call, element read, method call and 64
    /// characters of string handled, and throws when <paramref name="maxSteps"/> are spent or <paramref name="stop"/>
    /// is cancelled. So a rule past its time limit stops within one step, and gives its thread and slot back.
    /// </remarks>
    public static string Evaluate(PreparedRules prepared, int maxResultBytes, CancellationToken stop, long maxSteps = RulesOptions.DefaultMaxEvaluationSteps)
    {
        var budget = new RuleBudget(maxSteps, stop);
        var facts = prepared.Data.Value;
        var matched = new List<RuleMatch>();
        var notMatched = new List<string>();
        var failed = new List<RuleError>();
        foreach (var rule in prepared.Checked)
        {
            bool isMatch;
            try
            {
                isMatch = Compile<bool>(rule.Condition, rule.Parameter, budget)(facts);
            }
            catch (Exception ex) when (ex is not RuleBudgetExceededException)
            {
                failed.Add(new RuleError(rule.Name, ErrorText($"Error while executing rule : {rule.Name} - {ex.Message}")));
                continue;
            }

            if (!isMatch)
            {
                notMatched.Add(rule.Name);
                continue;
            }

            if (rule.Output is null)
            {
                matched.Add(new RuleMatch(rule.Name, null));
                continue;
            }

            try
            {
                matched.Add(new RuleMatch(rule.Name, Compile<object?>(rule.Output, rule.Parameter, budget)(facts)));
            }
            catch (Exception ex) when (ex is not RuleBudgetExceededException)
            {
                matched.Add(new RuleMatch(rule.Name, null, ErrorText(ex.Message)));
            }
        }

        using var buffer = new LimitedStream(maxResultBytes);
        JsonSerializer.Serialize(buffer, new RulesResult(matched, notMatched, failed), JsonDefaults.Options);
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>The rule's tree, paying <paramref name="budget"/>, as a function of the facts.</summary>
    private static Func<object?, T> Compile<T>(Expression tree, ParameterExpression data, RuleBudget budget)
    {
        var facts = Expression.Parameter(typeof(object), "facts");
        var body = new RuleBudgetRewriter(budget).Visit(tree)!;
        var lambda = Expression.Lambda<Func<object?, T>>(
            Expression.Block(typeof(T), [data], Expression.Assign(data, Expression.Convert(facts, data.Type)), Expression.Convert(body, typeof(T))),
            facts);
        return lambda.Compile();
    }

    private static string ErrorText(string message) => message.Length > 500 ? message[..500] + "…" : message;

    private sealed class ResultTooLargeException() : Exception("The result is too large.");

    /// <summary>A memory stream that refuses to grow past its limit.</summary>
    private sealed class LimitedStream(int limit) : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count)
        {
            if (Length + count > limit)
            {
                throw new ResultTooLargeException();
            }

            base.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Length + buffer.Length > limit)
            {
                throw new ResultTooLargeException();
            }

            base.Write(buffer);
        }
    }
}

/// <summary>The evaluation threads a worker may run at once (see <see cref="RulesOptions.MaxConcurrentEvaluations"/>).</summary>
public sealed class RuleEvaluationSlots(IOptions<RulesOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrentEvaluations, options.Value.MaxConcurrentEvaluations);

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _slots.WaitAsync(timeout, cancellationToken);

    public void Release() => _slots.Release();

    public void Dispose() => _slots.Dispose();
}
