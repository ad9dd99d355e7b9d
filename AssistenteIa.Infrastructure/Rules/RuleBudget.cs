using System.Linq.Expressions;
using System.Reflection;

namespace AssistenteIa.Infrastructure.Rules;

/// <summary>Thrown inside a compiled rule when its evaluation has used up its steps or has been told to stop.</summary>
public sealed class RuleBudgetExceededException(bool cancelled)
    : Exception(cancelled ? "The evaluation was stopped." : "The rules need more work than one evaluation may do.")
{
    public bool Cancelled { get; } = cancelled;
}

/// <summary>
/// The work one evaluation may do, counted in steps and checked from inside the compiled rules: .NET cannot abort a
/// thread, so a rule has to stop itself. <see cref="RuleBudgetRewriter"/> makes every lambda call, every element a LINQ
/// operator reads, every method call and every 64 characters of each string a method or operator is given cost a step.
/// </summary>
public sealed class RuleBudget(long maxSteps, CancellationToken stop)
{
    private long _remaining = maxSteps;

    public void Step() => Charge(1);

    public void Charge(string? text) => Charge(1 + ((text?.Length ?? 0) / 64));

    public void Charge(long steps)
    {
        _remaining -= steps;
        if (_remaining < 0)
        {
            throw new RuleBudgetExceededException(cancelled: false);
        }

        if (stop.IsCancellationRequested)
        {
            throw new RuleBudgetExceededException(cancelled: true);
        }
    }

    /// <summary>The elements of <paramref name="source"/>, a step each: what a LINQ operator reads is paid for.</summary>
    public IEnumerable<T> Track<T>(IEnumerable<T> source)
    {
        foreach (var item in source)
        {
            Step();
            yield return item;
        }
    }
}

/// <summary>
/// Rewrites a checked rule (<see cref="RuleExpressionGuard"/> has passed it) so that it pays its <see cref="RuleBudget"/>
/// as it runs. Runs only on trees the guard accepted: the blocks and constants it adds are the worker's, not the tenant's.
/// </summary>
public sealed class RuleBudgetRewriter(RuleBudget budget) : ExpressionVisitor
{
    private static readonly MethodInfo StepMethod = typeof(RuleBudget).GetMethod(nameof(RuleBudget.Step))!;
    private static readonly MethodInfo ChargeText = typeof(RuleBudget).GetMethod(nameof(RuleBudget.Charge), [typeof(string)])!;
    private static readonly MethodInfo TrackMethod = typeof(RuleBudget).GetMethod(nameof(RuleBudget.Track))!;

    private readonly ConstantExpression _budget = Expression.Constant(budget);

    protected override Expression VisitLambda<T>(Expression<T> node)
    {
        var body = Visit(node.Body);
        return node.Update(Expression.Block(body.Type, Expression.Call(_budget, StepMethod), body), node.Parameters);
    }

    protected override Expression VisitMethodCall(MethodCallExpression node)
    {
        var target = Visit(node.Object);
        var arguments = node.Arguments.Select(a => Visit(a)!).ToArray();
        if (node.Method.DeclaringType == typeof(Enumerable) && arguments.Length > 0
            && node.Method.GetParameters()[0].ParameterType is { IsGenericType: true } source
            && source.GetGenericTypeDefinition() == typeof(IEnumerable<>))
        {
            arguments[0] = Expression.Call(_budget, TrackMethod.MakeGenericMethod(source.GetGenericArguments()[0]), arguments[0]);
        }

        return Charged(target, arguments, (t, a) => Expression.Call(t, node.Method, a));
    }

    protected override Expression VisitBinary(BinaryExpression node)
    {
        if (node.Left.Type != typeof(string) && node.Right.Type != typeof(string))
        {
            return base.VisitBinary(node);
        }

        var left = Visit(node.Left);
        var right = Visit(node.Right);
        return Charged(null, [left, right], (_, a) => Expression.MakeBinary(node.NodeType, a[0], a[1], node.IsLiftedToNull, node.Method, node.Conversion));
    }

    /// <summary>The call (or operator), after a step and a charge for each string operand; operands are evaluated once, in order.</summary>
    private Expression Charged(Expression? target, Expression[] arguments, Func<Expression?, Expression[], Expression> make)
    {
        var variables = new List<ParameterExpression>();
        var steps = new List<Expression> { Expression.Call(_budget, StepMethod) };
        Expression? Hold(Expression? operand)
        {
            if (operand is null || operand.Type != typeof(string) || operand is ConstantExpression)
            {
                return operand;
            }

            var variable = Expression.Variable(typeof(string));
            variables.Add(variable);
            steps.Add(Expression.Assign(variable, operand));
            steps.Add(Expression.Call(_budget, ChargeText, variable));
            return variable;
        }

        var heldTarget = Hold(target);
        var heldArguments = arguments.Select(a => Hold(a)!).ToArray();
        var call = make(heldTarget, heldArguments);
        steps.Add(call);
        return Expression.Block(call.Type, variables, steps);
    }
}
