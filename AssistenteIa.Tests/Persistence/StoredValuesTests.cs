using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.ValueObjects;
using AssistenteIa.Infrastructure.Messaging;
using AssistenteIa.Infrastructure.Persistence;

namespace AssistenteIa.Tests.Persistence;

/// <summary>Stored values this build cannot read, and how often a delivery refused for its data is tried.</summary>
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
    public void Refusals_are_counted_per_message_until_forgotten()
    {
        var refused = new RefusedDeliveries();

        Assert.Equal(1, refused.Count("a"));
        Assert.Equal(2, refused.Count("a"));
        Assert.Equal(1, refused.Count("b"));
        refused.Forget("a");
        Assert.Equal(1, refused.Count("a"));
    }

    [Fact]
    public void Past_its_capacity_the_count_starts_afresh_so_no_message_is_rejected_early()
    {
        var refused = new RefusedDeliveries();
        refused.Count("old");
        refused.Count("old");
        for (var i = 1; i < RefusedDeliveries.Capacity; i++)
        {
            refused.Count($"m{i}");
        }

        Assert.Equal(1, refused.Count("new"));
        Assert.Equal(1, refused.Count("old"));
    }
}
