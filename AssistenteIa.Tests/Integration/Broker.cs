using System.Text;
using RabbitMQ.Client;

namespace AssistenteIa.Tests.Integration;

/// <summary>Direct access to the test virtual host: raw publishes, queue depths, and stopping the broker.</summary>
public static class Broker
{
    public static async Task PublishRawAsync(AppFixture fixture, string exchange, string routingKey, string body, byte priority = 4)
    {
        var factory = new ConnectionFactory { Uri = new Uri(fixture.BrokerUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var properties = new BasicProperties { Persistent = true, ContentType = "application/json", Priority = priority };
        await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, Encoding.UTF8.GetBytes(body));
    }

    /// <summary>Messages ready in a queue (not counting those delivered and unacked).</summary>
    public static async Task<uint> ReadyCountAsync(AppFixture fixture, string queue)
    {
        var factory = new ConnectionFactory { Uri = new Uri(fixture.BrokerUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>Consumers subscribed to a queue right now (0 when the queue does not exist); unlike the management API's figures, not delayed.</summary>
    public static async Task<uint> ConsumerCountAsync(AppFixture fixture, string queue)
    {
        var factory = new ConnectionFactory { Uri = new Uri(fixture.BrokerUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        try
        {
            return (await channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;
        }
    }

    /// <summary>Stops or starts the RabbitMQ application on this machine (the Erlang node keeps running).</summary>
    public static Task RabbitCtlAsync(string command) =>
        Processes.RunAsync(File.Exists("/usr/sbin/rabbitmqctl") ? "/usr/sbin/rabbitmqctl" : "rabbitmqctl", command);
}
