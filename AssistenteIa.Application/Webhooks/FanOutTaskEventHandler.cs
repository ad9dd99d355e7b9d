using System.Text;
using System.Text.Json;
using AssistenteIa.Application.Messaging;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Application.Webhooks;

/// <summary>
/// Turns one task event into a delivery for each of the tenant's enabled endpoints subscribed to its type, stored
/// before anything is sent. Idempotent: a redelivered event finds its deliveries already there.
/// </summary>
public sealed class FanOutTaskEventHandler(IAppDbContext db, WebhookEndpointCache endpointCache, TimeProvider clock)
{
    /// <returns>How many deliveries were added.</returns>
    public async Task<int> HandleAsync(ReceivedTaskEvent taskEvent, CancellationToken cancellationToken)
    {
        try
        {
            return await AddMissingAsync(taskEvent, cancellationToken);
        }
        catch (DbUpdateException)
        {
            // The same event handled twice at once (a redelivery racing the first), or an endpoint deleted since the
            // cached read: once more, the other's rows now visible and the endpoints read again.
            db.ClearTracking();
            return await AddMissingAsync(taskEvent, cancellationToken, freshEndpoints: true);
        }
    }

    private async Task<int> AddMissingAsync(ReceivedTaskEvent taskEvent, CancellationToken cancellationToken, bool freshEndpoints = false)
    {
        var endpoints = await endpointCache.GetAsync(
            taskEvent.TenantId,
            async token => await db.WebhookEndpoints.AsNoTracking()
                .Where(e => e.TenantId == taskEvent.TenantId && e.Enabled)
                .Select(e => new SubscribedEndpoint(e.Id, e.Events))
                .ToListAsync(token),
            cancellationToken,
            freshEndpoints);
        var wanted = endpoints.Where(e => e.Events.Contains(taskEvent.Type, StringComparer.Ordinal)).Select(e => e.Id).ToList();
        if (wanted.Count == 0)
        {
            return 0;
        }

        var existing = await db.WebhookDeliveries.AsNoTracking()
            .Where(d => d.EventId == taskEvent.EventId && wanted.Contains(d.EndpointId))
            .Select(d => d.EndpointId)
            .ToListAsync(cancellationToken);
        var body = Body(taskEvent);
        var now = clock.GetUtcNow();
        var added = wanted.Except(existing).Select(id => WebhookDelivery.Create(id, taskEvent.TenantId, taskEvent.EventId, taskEvent.Type, body, now)).ToList();
        if (added.Count == 0)
        {
            return 0;
        }

        db.WebhookDeliveries.AddRange(added);
        await db.SaveChangesAsync(cancellationToken);
        return added.Count;
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
