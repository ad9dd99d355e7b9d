using AssistenteIa.Application.Tasks.Queries.StreamTaskEvents;

namespace AssistenteIa.Tests.Streams;

public sealed class CatchUpTurnsTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_tenant_reading_all_it_may_leaves_the_other_tenants_turns_free()
    {
        using var turns = new CatchUpTurns(total: 4, perTenant: 1);
        var first = await turns.TakeAsync("flooding", CancellationToken.None);
        var queued = Enumerable.Range(0, 10).Select(_ => turns.TakeAsync("flooding", CancellationToken.None)).ToList();

        // The other tenant's turn comes at once, though ten of the first tenant's reads came before it.
        using var other = await turns.TakeAsync("other", CancellationToken.None).WaitAsync(Deadline);
        Assert.DoesNotContain(queued, q => q.IsCompleted);

        // The first tenant's reads go one at a time, each once the one before is done.
        first.Dispose();
        while (queued.Count > 0)
        {
            var done = await Task.WhenAny(queued).WaitAsync(Deadline);
            Assert.Equal(1, queued.Count(q => q.IsCompleted));
            queued.Remove(done);
            (await done).Dispose();
        }
    }

    [Fact]
    public async Task The_instance_total_bounds_reads_of_all_tenants_together()
    {
        using var turns = new CatchUpTurns(total: 2, perTenant: 1);
        var a = await turns.TakeAsync("a", CancellationToken.None);
        using var b = await turns.TakeAsync("b", CancellationToken.None);
        var c = turns.TakeAsync("c", CancellationToken.None);
        Assert.False(c.IsCompleted);

        a.Dispose();
        (await c.WaitAsync(Deadline)).Dispose();
    }

    [Fact]
    public async Task A_wait_cancelled_for_the_instances_turn_gives_the_tenants_back()
    {
        using var turns = new CatchUpTurns(total: 1, perTenant: 1);
        var held = await turns.TakeAsync("a", CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var waiting = turns.TakeAsync("b", cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        held.Dispose();
        (await turns.TakeAsync("b", CancellationToken.None).WaitAsync(Deadline)).Dispose();
    }
}
