using System.Collections.Concurrent;
using AssistenteIa.Application.Outbox;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIaApi.ServiceC.Worker.Dispatching;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

[Collection(AppCollection.Name)]
public sealed class OutboxRelayTests(AppFixture fixture)
{
    [Fact]
    public async Task Competing_relays_publish_every_unsent_row_exactly_once()
    {
        const int rows = 60;
        var destination = $"relay-test-{Guid.NewGuid():N}";
        await DeclareQueueAsync(destination);
        await using (var db = CreateDbContext())
        {
            var old = DateTimeOffset.UtcNow.AddMinutes(-1);
            db.OutboxMessages.AddRange(Enumerable.Range(0, rows).Select(i => OutboxMessage.Create(destination, "Test", $$"""{"n":{{i}}}""", null, null, 0, old)));
            await db.SaveChangesAsync();
        }

        // Two relays in this process race each other and ServiceC's own relay for the same rows.
        var published = new ConcurrentBag<Guid>();
        await Task.WhenAll(RelayUntilEmptyAsync(published), RelayUntilEmptyAsync(published));
        await Eventually.UntilAsync(
            () => fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "Destination" = @p0 AND "SentAt" IS NULL""", destination),
            unsent => unsent == 0,
            TimeSpan.FromSeconds(30),
            "every row to be marked sent");

        // The relays take any unsent row old enough, another test's too: only this test's rows are counted.
        var ours = (await OwnRowIdsAsync(destination)).ToHashSet();
        var byServiceC = await DrainAsync(destination);
        var all = published.Where(ours.Contains).Concat(byServiceC).ToList();
        Assert.True(all.Count == rows && all.Distinct().Count() == rows, await DescribeDuplicatesAsync(rows, published, byServiceC));
    }

    /// <summary>
    /// What a failure of the test above needs to be understood: which rows went out twice, by whom, and what their rows
    /// say now. (CI saw 62 publishes of 60 rows: the test's relays had also published two unsent rows of another test.)
    /// </summary>
    private async Task<List<Guid>> OwnRowIdsAsync(string destination)
    {
        await using var db = CreateDbContext();
        return await db.OutboxMessages.AsNoTracking().Where(m => m.Destination == destination).Select(m => m.Id).ToListAsync();
    }

    private async Task<string> DescribeDuplicatesAsync(int rows, IEnumerable<Guid> byThisProcess, IEnumerable<Guid> byServiceC)
    {
        var here = byThisProcess.GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        var there = byServiceC.GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        var twice = here.Keys.Union(there.Keys).Where(id => here.GetValueOrDefault(id) + there.GetValueOrDefault(id) > 1).ToArray();
        await using var db = CreateDbContext();
        var states = await db.OutboxMessages.AsNoTracking().Where(m => twice.Contains(m.Id)).ToDictionaryAsync(m => m.Id);
        var lines = twice.Select(id => states.TryGetValue(id, out var m)
            ? $"{id}: {here.GetValueOrDefault(id)} by the test's relays, {there.GetValueOrDefault(id)} by ServiceC; attempts {m.PublishAttempts}, sent {m.SentAt:O}, claimed until {m.ClaimedUntil:O}, error {m.LastError}"
            : $"{id}: {here.GetValueOrDefault(id)} by the test's relays, {there.GetValueOrDefault(id)} by ServiceC; row gone");
        return $"{here.Values.Sum()} + {there.Values.Sum()} publishes of {rows} rows; more than once: {twice.Length}\n{string.Join('\n', lines)}";
    }

    [Fact]
    public async Task Sent_marks_are_written_in_batches_once_per_row_and_flushed_when_stopping()
    {
        var now = DateTimeOffset.UtcNow;
        List<OutboxMessage> rows;
        await using (var db = CreateDbContext())
        {
            rows = Enumerable.Range(0, OutboxSentMarks.MaxBatch + 5)
                .Select(i => OutboxMessage.Create($"marks-test-{Guid.NewGuid():N}", "Test", "{}", null, null, 0, now))
                .ToList();
            db.OutboxMessages.AddRange(rows);

            // One row the relay published meanwhile: its own mark stands.
            rows[0].MarkSent(now.AddMinutes(-1));
            await db.SaveChangesAsync();
        }

        await using var services = MarksServices();
        var marks = new OutboxSentMarks(services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System, NullLogger<OutboxSentMarks>.Instance);
        var ids = rows.Select(r => r.Id).ToArray();

        var running = marks.RunAsync();
        marks.Add(ids.Take(10));
        await Eventually.UntilAsync(
            () => fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "Id" = ANY(@p0) AND "SentAt" IS NOT NULL""", ids),
            marked => marked == 10,
            TimeSpan.FromSeconds(10),
            "the first rows to be marked while the writer runs");

        // Queued just before the host stops (completes the queue): written on the way out, more than one batch's
        // worth; a row queued after that is refused, for the relay.
        marks.Add(ids.Skip(10));
        marks.Complete();
        marks.Add([Guid.NewGuid()]);
        await running;

        await using var check = CreateDbContext();
        var after = await check.OutboxMessages.AsNoTracking().Where(m => ids.Contains(m.Id)).ToListAsync();
        Assert.Equal(ids.Length, after.Count);
        Assert.All(after, m => Assert.Equal((1, (DateTimeOffset?)null), (m.PublishAttempts, m.ClaimedUntil)));
        Assert.All(after, m => Assert.NotNull(m.SentAt));
        Assert.Equal(now.AddMinutes(-1), after.Single(m => m.Id == rows[0].Id).SentAt!.Value, TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task A_sent_mark_commits_without_waiting_for_the_disk_and_leaves_the_session_as_it_was()
    {
        var now = DateTimeOffset.UtcNow;
        var rows = Enumerable.Range(0, 3).Select(i => OutboxMessage.Create($"async-mark-{Guid.NewGuid():N}", "Test", "{}", null, null, 0, now)).ToList();

        // The services' own connection settings: a pooled session is not reset, so a setting left behind would stay.
        await using var db = new AppDbContext(new DbContextOptionsBuilder<AppDbContext>()
            .UseNpgsql(AssistenteIa.Infrastructure.DependencyInjection.TuneConnectionString(fixture.DatabaseConnectionString)).Options);
        db.OutboxMessages.AddRange(rows);
        await db.SaveChangesAsync();
        try
        {
            // One session for everything below.
            await db.Database.OpenConnectionAsync();
            var session = await SynchronousCommitAsync(db);

            // A look inside the statement's own transaction (one the context does not know of, so the mark runs in it).
            await using (var peek = await db.Database.GetDbConnection().BeginTransactionAsync())
            {
                Assert.Equal(1, await db.MarkOutboxSentAsync([rows[0].Id], now, CancellationToken.None));
                Assert.Equal("off", await SynchronousCommitAsync(db));
                await peek.CommitAsync();
            }

            Assert.Equal(session, await SynchronousCommitAsync(db));

            // As the writer calls it, in a transaction of its own: a row already marked stays as it was.
            Assert.Equal(1, await db.MarkOutboxSentAsync([rows[1].Id, rows[0].Id], now.AddMinutes(1), CancellationToken.None));
            Assert.Equal(session, await SynchronousCommitAsync(db));

            // Inside a transaction of the caller's, all of it would commit without waiting for the disk: refused.
            await using (await db.Database.BeginTransactionAsync())
            {
                await Assert.ThrowsAsync<InvalidOperationException>(() => db.MarkOutboxSentAsync([rows[2].Id], now, CancellationToken.None));
            }

            var marked = await db.OutboxMessages.AsNoTracking().Where(m => rows.Select(r => r.Id).Contains(m.Id)).ToDictionaryAsync(m => m.Id);
            Assert.Equal((1, (DateTimeOffset?)null), (marked[rows[0].Id].PublishAttempts, marked[rows[0].Id].ClaimedUntil));
            Assert.Equal(now, marked[rows[0].Id].SentAt!.Value, TimeSpan.FromMilliseconds(1));
            Assert.Equal(now.AddMinutes(1), marked[rows[1].Id].SentAt!.Value, TimeSpan.FromMilliseconds(1));
            Assert.Null(marked[rows[2].Id].SentAt);
        }
        finally
        {
            // Left unsent, a row without a queue would be tried by the running relay every round.
            await DeleteAsync(rows.Select(r => r.Id));
        }

        static Task<string> SynchronousCommitAsync(AppDbContext db) =>
            db.Database.SqlQuery<string>($"""SELECT current_setting('synchronous_commit') AS "Value" """).SingleAsync();
    }

    [Fact]
    public async Task Sent_marks_arriving_close_together_go_out_in_one_statement()
    {
        var now = DateTimeOffset.UtcNow;
        var rows = await InsertUnsentAsync("linger", 3, now);
        var statements = new MarkStatements();
        await using var services = MarksServices(statements);

        // The batch's wait runs on this clock: it ends only when the test moves the clock on.
        var clock = new FakeTimeProvider(now);
        var linger = TimeSpan.FromMilliseconds(20);
        var marks = new OutboxSentMarks(services.GetRequiredService<IServiceScopeFactory>(), clock, NullLogger<OutboxSentMarks>.Instance, linger);
        var running = marks.RunAsync();
        var ids = rows.Select(r => r.Id).ToArray();
        try
        {
            // Rows handed over 50 ms apart, as publishes finish one after another: without the wait the first would
            // have gone out alone meanwhile.
            foreach (var row in rows)
            {
                marks.Add([row.Id]);
                await Task.Delay(50);
            }

            await Eventually.UntilAsync(
                () =>
                {
                    clock.Advance(linger);
                    return fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "Id" = ANY(@p0) AND "SentAt" IS NOT NULL""", ids);
                },
                marked => marked == rows.Count,
                TimeSpan.FromSeconds(20),
                "the rows to be marked");
            Assert.Equal(1, statements.Count);
        }
        finally
        {
            marks.Complete();
            await running;
            await DeleteAsync(ids);
        }
    }

    /// <summary>Counts the sent-mark statements a context sends.</summary>
    private sealed class MarkStatements : DbCommandInterceptor
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
            System.Data.Common.DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
        {
            if (command.CommandText.Contains("no_flush_wait", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _count);
            }

            return base.NonQueryExecutingAsync(command, eventData, result, cancellationToken);
        }
    }

    [Fact]
    public async Task The_marks_writer_outlives_a_database_outage_and_leaves_the_lost_marks_to_the_relay()
    {
        var now = DateTimeOffset.UtcNow;
        var rows = await InsertUnsentAsync("outage", 2, now);

        // The first batch meets a database that refuses connections (a restart); the next one finds it back.
        var contexts = 0;
        await using var services = new ServiceCollection()
            .AddScoped<IAppDbContext>(_ => Interlocked.Increment(ref contexts) == 1
                ? new AppDbContext(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql("Host=127.0.0.1;Port=1;Username=x;Password=x;Timeout=2").Options)
                : CreateDbContext())
            .BuildServiceProvider();
        var marks = new OutboxSentMarks(services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System, NullLogger<OutboxSentMarks>.Instance);
        var running = marks.RunAsync();

        marks.Add([rows[0].Id]);
        await Eventually.UntilAsync(() => Task.FromResult(Volatile.Read(ref contexts)), n => n == 1, TimeSpan.FromSeconds(10), "the first batch to be tried");
        marks.Add([rows[1].Id]);
        await Eventually.UntilAsync(
            () => fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "Id" = @p0 AND "SentAt" IS NOT NULL""", rows[1].Id),
            marked => marked == 1,
            TimeSpan.FromSeconds(20),
            "the batch after the outage to be written");
        marks.Complete();
        await running;

        Assert.Equal(0, await fixture.ScalarAsync<long>("""SELECT count(*) FROM "OutboxMessages" WHERE "Id" = @p0 AND "SentAt" IS NOT NULL""", rows[0].Id));

        // The unmarked row has no queue to go to: left in place, the running relay would try it every round for the
        // rest of the collection.
        await fixture.ExecuteAsync($"""DELETE FROM "OutboxMessages" WHERE "Id" IN ('{rows[0].Id}', '{rows[1].Id}')""");
    }

    private async Task RelayUntilEmptyAsync(ConcurrentBag<Guid> published)
    {
        while (true)
        {
            await using var db = CreateDbContext();
            var relay = new OutboxRelay(db, new OutboxPublisher(db, new RecordingPublisher(published), TimeProvider.System, NullLogger<OutboxPublisher>.Instance), NullLogger<OutboxRelay>.Instance);
            if (await relay.RelayAsync(batchSize: 5, CancellationToken.None) == 0)
            {
                return;
            }
        }
    }

    /// <summary>Unsent rows for a destination no queue is bound to, stored.</summary>
    private async Task<List<OutboxMessage>> InsertUnsentAsync(string destination, int count, DateTimeOffset now)
    {
        var rows = Enumerable.Range(0, count).Select(i => OutboxMessage.Create($"{destination}-{Guid.NewGuid():N}", "Test", "{}", null, null, 0, now)).ToList();
        await using var db = CreateDbContext();
        db.OutboxMessages.AddRange(rows);
        await db.SaveChangesAsync();
        return rows;
    }

    /// <summary>What the sent-marks writer resolves in a service: the context, through the port.</summary>
    private ServiceProvider MarksServices(params IInterceptor[] interceptors) =>
        new ServiceCollection()
            .AddDbContext<AppDbContext>(options => options.UseNpgsql(fixture.DatabaseConnectionString).AddInterceptors(interceptors))
            .AddScoped<IAppDbContext>(sp => sp.GetRequiredService<AppDbContext>())
            .BuildServiceProvider();

    private Task DeleteAsync(IEnumerable<Guid> ids) =>
        fixture.ExecuteAsync($"""DELETE FROM "OutboxMessages" WHERE "Id" IN ({string.Join(", ", ids.Select(id => $"'{id}'"))})""");

    private AppDbContext CreateDbContext() =>
        new(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(fixture.DatabaseConnectionString).Options);

    private async Task DeclareQueueAsync(string queue)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(fixture.BrokerUri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: false);
    }

    private async Task<List<Guid>> DrainAsync(string queue)
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(fixture.BrokerUri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var ids = new List<Guid>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
        {
            ids.Add(Guid.Parse(message.BasicProperties.MessageId!));
        }

        await channel.QueueDeleteAsync(queue);
        return ids;
    }

    /// <summary>Stands in for the broker only to count who published what; the rows and their locks are real.</summary>
    private sealed class RecordingPublisher(ConcurrentBag<Guid> published) : IMessagePublisher
    {
        public async Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken)
        {
            // Hold the row lock a little, as a real publish would, so the relays overlap.
            await Task.Yield();
            published.Add(message.Id);
        }

        public async Task<IReadOnlyList<Exception?>> PublishInOrderAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
        {
            foreach (var message in messages)
            {
                await PublishAsync(message, cancellationToken);
            }

            return new Exception?[messages.Count];
        }
    }
}
