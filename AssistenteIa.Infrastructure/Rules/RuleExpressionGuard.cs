using System.Linq.Dynamic.Core;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace AssistenteIa.Infrastructure.Rules;

/// <summary>
/// The whitelist a tenant's rule expression must keep to, checked on the expression tree that RulesEngine's parser makes
/// of it (the same tree the engine compiles): the facts' own properties, a fixed list of members of simple types
/// (strings, numbers, dates, <see cref="Math"/>, <see cref="Convert"/>) and of LINQ over the facts' arrays. Anything
/// else (reflection, <c>GetType()</c>, I/O, processes, network, constructors of other types, dynamic binding) is refused.
/// </summary>
/// <remarks>
/// System.Linq.Dynamic.Core already refuses methods of types it does not know, but RulesEngine registers
/// <see cref="object"/> among its known types (as the base of its own helpers), which lets <c>GetType()</c> through, and
/// property access is open on every type. Members that can allocate without bound from a short expression
/// (<c>PadLeft</c>, <c>Replace</c>, <c>new string(c, n)</c>, <c>Enumerable.Repeat</c>, <c>Aggregate</c>, format strings)
/// are left out on purpose; collections may be iterated at most <see cref="MaxIterationDepth"/> levels deep, so a rule's
/// work grows at most with the square of the facts' size.
/// </remarks>
internal sealed class RuleExpressionGuard : ExpressionVisitor
{
    public const int MaxIterationDepth = 2;

    private static readonly HashSet<Type> Scalars =
    [
        typeof(bool), typeof(char), typeof(string), typeof(byte), typeof(sbyte), typeof(short), typeof(ushort), typeof(int),
        typeof(uint), typeof(long), typeof(ulong), typeof(float), typeof(double), typeof(decimal), typeof(DateTime),
        typeof(DateTimeOffset), typeof(TimeSpan), typeof(DateOnly), typeof(TimeOnly), typeof(Guid), typeof(DayOfWeek),
        typeof(StringComparison), typeof(MidpointRounding),
    ];

    private static readonly HashSet<Type> Numbers =
    [
        typeof(byte), typeof(sbyte), typeof(short), typeof(ushort), typeof(int), typeof(uint), typeof(long), typeof(ulong),
        typeof(float), typeof(double), typeof(decimal),
    ];

    private static readonly HashSet<Type> Dates = [typeof(DateTime), typeof(DateTimeOffset), typeof(DateOnly), typeof(TimeOnly)];

    private static readonly HashSet<string> StringMethods =
    [
        nameof(string.Contains), nameof(string.StartsWith), nameof(string.EndsWith), nameof(string.IndexOf), nameof(string.LastIndexOf),
        nameof(string.Substring), nameof(string.ToUpper), nameof(string.ToLower), nameof(string.ToUpperInvariant),
        nameof(string.ToLowerInvariant), nameof(string.Trim), nameof(string.TrimStart), nameof(string.TrimEnd), nameof(string.Equals),
        nameof(string.CompareTo), nameof(string.IsNullOrEmpty), nameof(string.IsNullOrWhiteSpace), nameof(string.Compare),
        nameof(string.CompareOrdinal), nameof(string.Concat),
    ];

    private static readonly HashSet<string> MathMethods =
    [
        nameof(Math.Abs), nameof(Math.Ceiling), nameof(Math.Floor), nameof(Math.Round), nameof(Math.Max), nameof(Math.Min),
        nameof(Math.Pow), nameof(Math.Sqrt), nameof(Math.Sign), nameof(Math.Truncate), nameof(Math.Log), nameof(Math.Log10),
        nameof(Math.Exp), nameof(Math.Clamp),
    ];

    private static readonly HashSet<string> ConvertMethods =
    [
        nameof(Convert.ToInt32), nameof(Convert.ToInt64), nameof(Convert.ToDouble), nameof(Convert.ToDecimal),
        nameof(Convert.ToString), nameof(Convert.ToBoolean),
    ];

    private static readonly HashSet<string> ScalarMethods =
    [
        "Parse", "CompareTo", "Equals", "Compare", "AddDays", "AddHours", "AddMinutes", "AddSeconds", "AddMonths", "AddYears",
        "Subtract", "FromDays", "FromHours", "FromMinutes", "FromSeconds",
    ];

    private static readonly HashSet<string> ScalarProperties =
    [
        "Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond", "DayOfWeek", "DayOfYear", "Date", "TimeOfDay",
        "Ticks", "Now", "UtcNow", "Today", "Offset", "UtcDateTime", "Days", "Hours", "Minutes", "Seconds", "Milliseconds",
        "TotalDays", "TotalHours", "TotalMinutes", "TotalSeconds", "TotalMilliseconds", "Zero", "MinValue", "MaxValue",
        "Length", "Empty", "HasValue", "Value", "PI", "E",
    ];

    /// <summary>LINQ over the facts' arrays; no generators (Range, Repeat), no folds (Aggregate), no joins.</summary>
    private static readonly HashSet<string> EnumerableMethods =
    [
        nameof(Enumerable.Any), nameof(Enumerable.All), nameof(Enumerable.Count), nameof(Enumerable.LongCount), nameof(Enumerable.Where),
        nameof(Enumerable.Select), nameof(Enumerable.Sum), nameof(Enumerable.Min), nameof(Enumerable.Max), nameof(Enumerable.Average),
        nameof(Enumerable.First), nameof(Enumerable.FirstOrDefault), nameof(Enumerable.Last), nameof(Enumerable.LastOrDefault),
        nameof(Enumerable.Contains), nameof(Enumerable.Distinct), nameof(Enumerable.OrderBy), nameof(Enumerable.OrderByDescending),
        nameof(Enumerable.ThenBy), nameof(Enumerable.ThenByDescending), nameof(Enumerable.Take), nameof(Enumerable.Skip),
        nameof(Enumerable.ToList), nameof(Enumerable.ToArray), nameof(Enumerable.ElementAt), nameof(Enumerable.ElementAtOrDefault),
    ];

    private readonly HashSet<Type> _dataTypes;
    private int _lambdaDepth;

    private RuleExpressionGuard(HashSet<Type> dataTypes) => _dataTypes = dataTypes;

    /// <summary>Null when <paramref name="expression"/> keeps to the whitelist, else why not.</summary>
    public static string? Check(Expression expression, HashSet<Type> dataTypes)
    {
        try
        {
            new RuleExpressionGuard(dataTypes).Visit(expression);
            return null;
        }
        catch (RefusedException ex)
        {
            return ex.Message;
        }
        catch (InsufficientExecutionStackException)
        {
            return "The expression is nested too deeply.";
        }
    }

    /// <summary>The facts' own types (made by RulesEngine from <c>data</c>): the root, its nested objects, and the elements of its arrays.</summary>
    public static HashSet<Type> DataTypesOf(Type root)
    {
        var types = new HashSet<Type>();
        Collect(root);
        return types;

        void Collect(Type type)
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
            {
                Collect(type.GetGenericArguments()[0]);
            }
            else if (type.IsSubclassOf(typeof(DynamicClass)) && types.Add(type))
            {
                foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
                {
                    Collect(property.PropertyType);
                }
            }
        }
    }

    public override Expression? Visit(Expression? node)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        if (node is not null && !IsAllowedType(node.Type) && node.NodeType != ExpressionType.Lambda)
        {
            throw new RefusedException($"Values of type {Name(node.Type)} are not allowed in rules.");
        }

        return node?.NodeType switch
        {
            null => null,
            ExpressionType.Dynamic or ExpressionType.Invoke or ExpressionType.Block or ExpressionType.Loop or ExpressionType.Goto
                or ExpressionType.Label or ExpressionType.Try or ExpressionType.Throw or ExpressionType.Assign or ExpressionType.Quote
                or ExpressionType.RuntimeVariables or ExpressionType.Extension or ExpressionType.MemberInit or ExpressionType.ListInit
                or ExpressionType.NewArrayBounds or ExpressionType.Index or ExpressionType.DebugInfo or ExpressionType.Unbox
                => throw new RefusedException($"This kind of expression ({node.NodeType}) is not allowed in rules."),
            _ => base.Visit(node),
        };
    }

    protected override Expression VisitConstant(ConstantExpression node) =>
        node.Value is null || IsScalar(node.Value.GetType())
            ? node
            : throw new RefusedException($"Constants of type {Name(node.Type)} are not allowed in rules.");

    protected override Expression VisitMember(MemberExpression node)
    {
        var owner = node.Expression?.Type ?? node.Member.DeclaringType!;
        var allowed = node.Member switch
        {
            // The facts' properties are declared on the types RulesEngine made from them, not inherited.
            PropertyInfo property when node.Expression is not null && _dataTypes.Contains(owner) => property.DeclaringType == owner,
            PropertyInfo { Name: nameof(List<int>.Count) } when IsList(owner) => true,
            _ when IsScalar(Nullable.GetUnderlyingType(owner) ?? owner) || owner == typeof(Math) => ScalarProperties.Contains(node.Member.Name),
            _ => false,
        };
        return allowed ? base.VisitMember(node) : throw Refused(node.Member);
    }

    protected override Expression VisitMethodCall(MethodCallExpression node)
    {
        var method = node.Method;
        var type = method.DeclaringType!;
        if (!method.GetParameters().All(p => IsAllowedType(p.ParameterType)) || !IsAllowedType(method.ReturnType))
        {
            throw Refused(method);
        }

        var iterates = false;
        var allowed = type switch
        {
            _ when type == typeof(string) => StringMethods.Contains(method.Name)
                && (method.Name != nameof(string.Concat) || method.GetParameters() is { Length: <= 4 } parameters && parameters.All(p => p.ParameterType == typeof(string) || p.ParameterType == typeof(object))),
            _ when type == typeof(Math) => MathMethods.Contains(method.Name),
            _ when type == typeof(Convert) => ConvertMethods.Contains(method.Name),
            _ when type == typeof(Enumerable) => iterates = EnumerableMethods.Contains(method.Name),
            _ when IsList(type) => iterates = method.Name is nameof(List<int>.Contains) or "get_Item",
            _ when IsScalar(type) => ScalarMethods.Contains(method.Name) || method.Name.StartsWith("op_", StringComparison.Ordinal)
                || (method.Name == nameof(ToString) && method.GetParameters().Length == 0)
                || (method.Name.StartsWith("get_", StringComparison.Ordinal) && ScalarProperties.Contains(method.Name[4..])),
            _ => false,
        };
        if (!allowed)
        {
            throw Refused(method);
        }

        if (iterates && method.Name != "get_Item" && _lambdaDepth >= MaxIterationDepth)
        {
            throw new RefusedException($"Collections may be iterated at most {MaxIterationDepth} levels deep in a rule.");
        }

        return base.VisitMethodCall(node);
    }

    protected override Expression VisitLambda<T>(Expression<T> node)
    {
        _lambdaDepth++;
        try
        {
            return base.VisitLambda(node);
        }
        finally
        {
            _lambdaDepth--;
        }
    }

    protected override Expression VisitUnary(UnaryExpression node) => CheckOperator(node.Method) ?? base.VisitUnary(node);

    protected override Expression VisitBinary(BinaryExpression node) => CheckOperator(node.Method) ?? base.VisitBinary(node);

    protected override Expression VisitNew(NewExpression node)
    {
        // Constructors of dates, spans and numbers only (DateTime(2025, 1, 31)); never string, whose (char, count)
        // constructor would allocate as much as it is told to.
        if (node.Constructor is not { } constructor || !IsScalar(constructor.DeclaringType!) || constructor.DeclaringType == typeof(string))
        {
            throw new RefusedException($"Creating a {Name(node.Type)} is not allowed in rules.");
        }

        return base.VisitNew(node);
    }

    protected override Expression VisitTypeBinary(TypeBinaryExpression node) =>
        IsAllowedType(node.TypeOperand) ? base.VisitTypeBinary(node) : throw new RefusedException($"The type {Name(node.TypeOperand)} is not allowed in rules.");

    private Expression? CheckOperator(MethodInfo? method) =>
        method is null || (IsScalar(method.DeclaringType!) && method.Name.StartsWith("op_", StringComparison.Ordinal))
            || (method.DeclaringType == typeof(string) && method.Name is nameof(string.Concat) or nameof(string.Equals) or nameof(string.Compare))
            ? null
            : throw Refused(method);

    private bool IsAllowedType(Type type)
    {
        if (IsScalar(type) || type == typeof(object) || _dataTypes.Contains(type))
        {
            return true;
        }

        if (type.IsArray)
        {
            return type.GetArrayRank() == 1 && IsAllowedType(type.GetElementType()!);
        }

        if (!type.IsGenericType)
        {
            return false;
        }

        var definition = type.GetGenericTypeDefinition();
        return (definition == typeof(Nullable<>) || definition == typeof(List<>) || definition == typeof(IEnumerable<>)
                || definition == typeof(IOrderedEnumerable<>) || definition.FullName?.StartsWith("System.Func`", StringComparison.Ordinal) == true)
            && type.GetGenericArguments().All(IsAllowedType);
    }

    private static bool IsScalar(Type type) => Scalars.Contains(type) || Numbers.Contains(type) || Dates.Contains(type)
        || (Nullable.GetUnderlyingType(type) is { } underlying && Scalars.Contains(underlying));

    private static bool IsList(Type type) => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>);

    private static RefusedException Refused(MemberInfo member) =>
        new($"{Name(member.DeclaringType)}.{member.Name} is not allowed in rules: only the facts' properties and a fixed list of string, number, date, Math, Convert and LINQ members are.");

    private static string Name(Type? type) => type is null ? "?" : type.IsSubclassOf(typeof(DynamicClass)) ? "data" : type.Name;

    private sealed class RefusedException(string message) : Exception(message);
}
