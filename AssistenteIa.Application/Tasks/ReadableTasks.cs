using AssistenteIa.Domain.Entities;
using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks;

/// <summary>
/// The tasks whose stored names (status, type, priority) this build reads. A row a later version wrote (a status or a
/// type it added), still there after a rollback, fails any read that materializes it
/// (<see cref="Ports.Out.StoredValueUnreadableException"/>); a list leaves it out instead of failing for every task of
/// its tenant, and a read of that one task answers that a later version wrote it.
/// </summary>
public static class ReadableTasks
{
    private static readonly AiTaskStatus[] Statuses = Enum.GetValues<AiTaskStatus>();
    private static readonly DomainType[] Domains = Enum.GetValues<DomainType>();
    private static readonly CapabilityType[] Capabilities = Enum.GetValues<CapabilityType>();
    private static readonly ExecutionType[] Executions = Enum.GetValues<ExecutionType>();
    private static readonly Priority[] Priorities = Enum.GetValues<Priority>();

    /// <summary>Leaves out the rows this build cannot read.</summary>
    public static IQueryable<AiTask> Readable(this IQueryable<AiTask> tasks) =>
        tasks.Where(t => Statuses.Contains(t.Status) && Domains.Contains(t.DomainType) && Capabilities.Contains(t.CapabilityType)
            && Executions.Contains(t.TaskExecutionType) && Priorities.Contains(t.Priority));
}
