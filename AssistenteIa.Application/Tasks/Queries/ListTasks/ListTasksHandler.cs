using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Application.Tasks.Queries.ListTasks;

/// <summary>Filters as the client sent them (strings), so unknown values are refused with a clear message.</summary>
public sealed record ListTasksQuery(
    string TenantId,
    string? Status,
    string? Type,
    string? Domain,
    string? Capability,
    string? Execution,
    int? Page,
    int? PageSize,
    bool IncludePayload = false);

/// <param name="TotalIsCapped">True when more than <see cref="ListTasksHandler.CountCap"/> tasks match: the total is then that cap.</param>
public sealed record TaskPage(IReadOnlyList<TaskDto> Items, int Page, int PageSize, int TotalCount, bool TotalIsCapped);

/// <summary>A page of the tenant's tasks, newest first.</summary>
public sealed class ListTasksHandler(IAppDbContext db)
{
    public const int DefaultPageSize = 20;
    public const int MaxPageSize = 100;

    /// <summary>Counting stops here, so the total costs the same at 10 thousand rows as at 10 million.</summary>
    public const int CountCap = 10_000;

    /// <summary>Offset paging deeper than this reads and throws away too many rows; narrow the filters instead.</summary>
    public const int MaxOffset = 100_000;

    public async Task<TaskPage> HandleAsync(ListTasksQuery query, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        var page = query.Page ?? 1;
        var pageSize = query.PageSize ?? DefaultPageSize;
        if (page < 1)
        {
            errors["page"] = ["page starts at 1."];
        }

        if (pageSize is < 1 or > MaxPageSize)
        {
            errors["pageSize"] = [$"pageSize must be between 1 and {MaxPageSize}."];
        }
        else if (page >= 1 && (page - 1L) * pageSize > MaxOffset)
        {
            errors["page"] = [$"(page - 1) × pageSize must be at most {MaxOffset}; narrow the filters to reach older tasks."];
        }

        var status = ParseEnum<AiTaskStatus>(query.Status, "status", errors);
        var domain = ParseEnum<DomainType>(query.Domain, "domain", errors);
        var capability = ParseEnum<CapabilityType>(query.Capability, "capability", errors);
        var execution = ParseEnum<ExecutionType>(query.Execution, "execution", errors);

        // "type" (the seed's filter) names either a DomainType or a CapabilityType.
        DomainType? typeDomain = null;
        CapabilityType? typeCapability = null;
        if (!string.IsNullOrEmpty(query.Type))
        {
            if (TryParseName<DomainType>(query.Type, out var d))
            {
                typeDomain = d;
            }
            else if (TryParseName<CapabilityType>(query.Type, out var c))
            {
                typeCapability = c;
            }
            else
            {
                errors["type"] = [$"type '{query.Type}' is neither a DomainType ({string.Join(", ", Enum.GetNames<DomainType>())}) nor a CapabilityType ({string.Join(", ", Enum.GetNames<CapabilityType>())})."];
            }
        }

        if (errors.Count > 0)
        {
            throw new RequestValidationException(errors);
        }

        var tasks = db.Tasks.AsNoTracking().Where(t => t.TenantId == query.TenantId);
        if (status is { } s)
        {
            tasks = tasks.Where(t => t.Status == s);
        }

        if ((domain ?? typeDomain) is { } dt)
        {
            tasks = tasks.Where(t => t.DomainType == dt);
        }

        if ((capability ?? typeCapability) is { } ct)
        {
            tasks = tasks.Where(t => t.CapabilityType == ct);
        }

        if (execution is { } et)
        {
            tasks = tasks.Where(t => t.TaskExecutionType == et);
        }

        // The total counts every row; the page leaves out a row a later version wrote (ReadableTasks), so one such row
        // does not fail the tenant's whole list.
        var total = await tasks.Take(CountCap + 1).CountAsync(cancellationToken);
        var ordered = tasks.Readable()
            .OrderByDescending(t => t.CreatedAt).ThenByDescending(t => t.Id)
            .Skip((page - 1) * pageSize)
            .Take(pageSize);
        var items = query.IncludePayload
            ? (await ordered.ToListAsync(cancellationToken)).Select(TaskDto.From).ToList()
            : await ordered.Select(TaskDto.SummaryProjection).ToListAsync(cancellationToken);
        return new TaskPage(items, page, pageSize, Math.Min(total, CountCap), total > CountCap);
    }

    private static TEnum? ParseEnum<TEnum>(string? value, string field, Dictionary<string, string[]> errors)
        where TEnum : struct, Enum
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (TryParseName<TEnum>(value, out var parsed))
        {
            return parsed;
        }

        errors[field] = [$"{field} '{value}' is not one of {string.Join(", ", Enum.GetNames<TEnum>())}."];
        return null;
    }

    /// <summary>Only the exact names count: numbers and other casings are refused.</summary>
    private static bool TryParseName<TEnum>(string value, out TEnum parsed)
        where TEnum : struct, Enum
    {
        parsed = default;
        return Enum.GetNames<TEnum>().Contains(value) && Enum.TryParse(value, ignoreCase: false, out parsed);
    }
}
