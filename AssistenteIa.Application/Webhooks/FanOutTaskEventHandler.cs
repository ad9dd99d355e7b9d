using System.Data.Common;
using System.Text;
using System.Text.Json;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Application.Webhooks;

/// <summary>
/// Turns one task event into a delivery for each of the tenant's enabled endpoints subscribed to its type, stored
/// before anything is sent. Idempotent: a redelivered event, or one handled twice at once, finds its deliveries there and
/// adds none (one statement, which leaves an endpoint and event that has its delivery alone).
/// </summary>
public sealed class FanOutTaskEventHandler(IAppDbContext db, WebhookEndpointCache endpointCache, TimeProvider clock)
{
    /// <returns>The endpoints a delivery was added for.</returns>
    public async Task<IReadOnlyList<Guid>> HandleAsync(ReceivedTaskEvent taskEvent, CancellationToken cancellationToken)
    {
        try
        {
            return await AddMissingAsync(taskEvent, cancellationToken);
        }
        catch (DbException ex) when (ex.SqlState == ForeignKeyViolation)
        {
            // An endpoint deleted since the cached read: once more, the endpoints read again.
            return await AddMissingAsync(taskEvent, cancellationToken, freshEndpoints: true);
        }
    }

    private const string ForeignKeyViolation = "23503";

    private async Task<IReadOnlyList<Guid>> AddMissingAsync(ReceivedTaskEvent taskEvent, CancellationToken cancellationToken, bool freshEndpoints = false)
    {
        var endpoints = await endpointCache.GetAsync(
            taskEvent.TenantId,
            async token => await db.WebhookEndpoints.AsNoTracking()
                .Where(e => e.TenantId == taskEvent.TenantId && e.Enabled)
                .Select(e => new SubscribedEndpoint(e.Id, e.Events))
                .ToListAsync(token),
            cancellationToken,
            freshEndpoints);
        // In the endpoints' order: two handlers of one event (a redelivery racing the first) insert their rows in the
        // same order, so one waits for the other's instead of each for the other's second (a deadlock).
        var wanted = endpoints.Where(e => e.Events.Contains(taskEvent.Type, StringComparer.Ordinal)).Select(e => e.Id).Order().ToList();
        if (wanted.Count == 0)
        {
            return [];
        }

        var body = Body(taskEvent);
        var now = clock.GetUtcNow();
        return await db.AddMissingDeliveriesAsync(
            [.. wanted.Select(id => WebhookDelivery.Create(id, taskEvent.TenantId, taskEvent.EventId, taskEvent.Type, body, now))], cancellationToken);
    }

    /// <summary>The Standard Webhooks body: <c>{ "type", "timestamp", "data" }</c>, data being the event as published.</summary>
    public static string Body(ReceivedTaskEvent taskEvent)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", taskEvent.Type);
            writer.WriteString("timestamp", taskEvent.At);
            writer.WritePropertyName("data");
            writer.WriteRawValue(taskEvent.Json, skipInputValidation: false);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
