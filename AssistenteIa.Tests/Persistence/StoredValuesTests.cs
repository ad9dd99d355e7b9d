using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Tests.Persistence;

/// <summary>Stored values this build cannot read: refused by name, skipped by the dispatcher, and how often a delivery meeting one is tried.</summary>
public sealed class StoredValuesTests
{
    [Fact]
    public void An_enum_is_read_by_its_exact_name_and_anything_else_is_unreadable_not_a_database_failure()
    {
        Assert.Equal(AiTaskStatus.Running, StoredEnums.Parse<AiTaskStatus>("Running"));
        Assert.Equal(CapabilityType.LLM_Generation, StoredEnums.Parse<CapabilityType>("LLM_Generation"));

        // A later version's name, another spelling, a number, a combination: none is a value this build wrote.
        foreach (var stored in (string[])["AwaitingHuman", "running", "2", " Running", "Queued,Running", ""])
        {
            var error = Assert.Throws<StoredValueUnreadableException>(() => StoredEnums.Parse<AiTaskStatus>(stored));
            Assert.Equal(typeof(AiTaskStatus), error.ValueType);
            Assert.Equal(stored, error.Stored);
        }
    }

    [Fact]
    public void The_dispatcher_steps_filter_every_enum_column_of_a_task_by_the_names_this_build_reads()
    {
        using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql("Host=unused").Options);
        var enumColumns = db.Model.GetRelationalModel().FindTable("Tasks", null)!.Columns
            .Where(column => (Nullable.GetUnderlyingType(column.PropertyMappings[0].Property.ClrType) ?? column.PropertyMappings[0].Property.ClrType).IsEnum)
            .Select(column => column.Name);

        // Status is named by each step's own condition; a new enum column must join the filter (AppDbContext.Readable).
        Assert.Equal(AppDbContext.Readable.Columns.Append("Status").Order(), enumColumns.Order());
        Assert.Equal(Enum.GetNames<Priority>().Order(), AppDbContext.Readable.Priorities.Order());
    }

    [Fact]
    public void Failures_are_counted_per_message_until_forgotten()
    {
        var counts = new FailureCounts();

        Assert.Equal(1, counts.Count("a"));
        Assert.Equal(2, counts.Count("a"));
        Assert.Equal(1, counts.Count("b"));
        counts.Forget("a");
        Assert.Equal(1, counts.Count("a"));
    }

    [Fact]
    public void Past_its_capacity_the_count_starts_afresh_so_no_message_is_rejected_early()
    {
        var counts = new FailureCounts();
        counts.Count("old");
        counts.Count("old");
        for (var i = 1; i < FailureCounts.Capacity; i++)
        {
            counts.Count($"m{i}");
        }

        Assert.Equal(1, counts.Count("new"));
        Assert.Equal(1, counts.Count("old"));
    }
}
