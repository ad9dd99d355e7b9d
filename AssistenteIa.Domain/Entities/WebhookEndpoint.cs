using AssistenteIa.Domain.Exceptions;

namespace AssistenteIa.Domain.Entities;

/// <summary>
/// A tenant's receiver of task events (table <c>WebhookEndpoints</c>). Its signing secret is stored encrypted
/// (<see cref="ProtectedSecret"/>); it is disabled after too many failed deliveries in a row and enabled again by the tenant.
/// </summary>
public sealed class WebhookEndpoint
{
    public const int MaxUrlLength = 2000;
    public const int MaxDescriptionLength = 500;
    public const int MaxEvents = 20;

    private WebhookEndpoint()
    {
    }

    public Guid Id { get; private set; }
    public string TenantId { get; private set; } = "";
    public string Url { get; private set; } = "";
    public List<string> Events { get; private set; } = [];
    public string? Description { get; private set; }

    /// <summary>The secret as the data-protection system encrypted it; only the process signing deliveries decrypts it.</summary>
    public string ProtectedSecret { get; private set; } = "";
    public bool Enabled { get; private set; }
    public string? DisabledReason { get; private set; }

    /// <summary>
    /// Failed delivery attempts since the last success. Several senders update it at once, so the sender counts and
    /// disables with single atomic statements (see <c>WebhookSender</c>).
    /// </summary>
    public int ConsecutiveFailures { get; private set; }
    public DateTimeOffset CreatedAt { get; private set; }
    public DateTimeOffset UpdatedAt { get; private set; }

    public static WebhookEndpoint Create(string tenantId, Uri url, IEnumerable<string> events, string? description, string protectedSecret, DateTimeOffset now)
    {
        var types = events.Distinct(StringComparer.Ordinal).ToList();
        if (types.Count == 0 || types.Count > MaxEvents)
        {
            throw new DomainException($"A webhook subscribes to 1 to {MaxEvents} event types.");
        }

        return new WebhookEndpoint
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenantId,
            Url = url.AbsoluteUri,
            Events = types,
            Description = Texts.FitOrNull(description, MaxDescriptionLength),
            ProtectedSecret = protectedSecret,
            Enabled = true,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    public bool Wants(string eventType) => Enabled && Events.Contains(eventType, StringComparer.Ordinal);

    /// <summary>
    /// Enables a disabled endpoint again, with a fresh failure count; false, and nothing changed, when it is enabled
    /// already: its failures so far still count towards disabling it.
    /// </summary>
    public bool Enable(DateTimeOffset now)
    {
        if (Enabled)
        {
            return false;
        }

        Enabled = true;
        DisabledReason = null;
        ConsecutiveFailures = 0;
        UpdatedAt = now;
        return true;
    }
}
