using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace AssistenteIa.Benchmarks;

/// <summary>
/// Scenario 4b, the lean loop: what a hand-written queue on the same servers does. Producers insert a row (one
/// commit) and publish its id with a publisher confirm; consumers (prefetch 16) claim the row and mark it succeeded with one
/// UPDATE, then ack. Scratch database and a uniquely named queue on "/", both removed afterwards.
/// </summary>
internal static class LeanLoop
{
    private const string Database = "bench_lean_loop";
    private const string Body = """{"type":"LLM_Generation","prompt":"Summarise the ticket","context":"The invoice is overdue."}""";

    public static async Task<Dictionary<string, double>> RunAsync(Options options)
    {
        var tasks = options.Int("tasks", 5000);
        var producers = options.Int("producers", 4);
        var consumers = options.Int("consumers", 2);
        var queue = $"bench-lean-loop-{Guid.NewGuid():N}";
        await Bench.RecreateDatabaseAsync(Database);
        await Bench.ExecuteAsync(Database, "CREATE TABLE tasks (id uuid PRIMARY KEY, body jsonb NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz)");
        await using var dataSource = NpgsqlDataSource.Create(Bench.ConnectionString(Database));
        var factory = new ConnectionFactory { Uri = new Uri("amqp://guest:guest@localhost:5672/") };
        await using var connection = await factory.CreateConnectionAsync();
        try
        {
            await using (var setup = await connection.CreateChannelAsync())
            {
                await setup.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
            }

            Console.WriteLine($"lean loop: {tasks} tasks, {producers} producers, {consumers} consumers (prefetch 16)");
            var done = 0;
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var consumerChannels = new List<IChannel>();
            for (var i = 0; i < consumers; i++)
            {
                var channel = await connection.CreateChannelAsync();
                consumerChannels.Add(channel);
                await channel.BasicQosAsync(0, 16, false);
                var consumer = new AsyncEventingBasicConsumer(channel);
                consumer.ReceivedAsync += async (_, delivery) =>
                {
                    var id = new Guid(delivery.Body.Span);
                    // The claim (only a Queued row) and the outcome in one statement, one commit; a duplicate changes nothing.
                    await using (var claim = dataSource.CreateCommand("UPDATE tasks SET status = 'Succeeded', updated_at = now() WHERE id = $1 AND status = 'Queued'"))
                    {
                        claim.Parameters.Add(new NpgsqlParameter { Value = id });
                        await claim.ExecuteNonQueryAsync();
                    }

                    await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
                    if (Interlocked.Increment(ref done) == tasks)
                    {
                        finished.TrySetResult();
                    }
                };
                await channel.BasicConsumeAsync(queue, autoAck: false, consumer);
            }

            var clock = Stopwatch.StartNew();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, producers).Select(async _ =>
            {
                await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
                var properties = new BasicProperties { Persistent = true };
                while (Interlocked.Increment(ref next) < tasks)
                {
                    var id = Guid.NewGuid();
                    await using (var insert = dataSource.CreateCommand("INSERT INTO tasks (id, body, status) VALUES ($1, $2, 'Queued')"))
                    {
                        insert.Parameters.Add(new NpgsqlParameter { Value = id });
                        insert.Parameters.Add(new NpgsqlParameter { Value = Body, NpgsqlDbType = NpgsqlDbType.Jsonb });
                        await insert.ExecuteNonQueryAsync();
                    }

                    // With confirmation tracking this returns once the broker confirmed the message.
                    await channel.BasicPublishAsync("", queue, mandatory: true, properties, id.ToByteArray());
                }
            }));
            var published = clock.Elapsed;
            await finished.Task.WaitAsync(TimeSpan.FromMinutes(5));
            var elapsed = clock.Elapsed;

            foreach (var channel in consumerChannels)
            {
                await channel.CloseAsync();
                await channel.DisposeAsync();
            }

            return new()
            {
                ["leanLoopTasks"] = tasks,
                ["leanLoopPublishPerSec"] = tasks / published.TotalSeconds,
                ["leanLoopPerSec"] = tasks / elapsed.TotalSeconds,
            };
        }
        finally
        {
            await using (var cleanup = await connection.CreateChannelAsync())
            {
                await cleanup.QueueDeleteAsync(queue);
            }

            await connection.CloseAsync();
            await dataSource.DisposeAsync();
            await Bench.DropDatabaseAsync(Database);
        }
    }
}
