using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using AssistenteIa.Application;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Application.Webhooks;
using AssistenteIa.Domain.Entities;
using AssistenteIa.Infrastructure.Persistence;
using AssistenteIa.Infrastructure.Webhooks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StandardWebhooks;

namespace AssistenteIaApi.ServiceC.Worker.Webhooks;

/// <summary>
/// Sends due webhook deliveries, signed per Standard Webhooks (<c>webhook-id</c>, <c>webhook-timestamp</c>,
/// <c>webhook-signature</c>). Deliveries are claimed in one committed statement (<c>ClaimedUntil</c>), so no row lock is
/// held while a receiver answers, several senders never take the same one, and one that died mid-send frees its claim
/// when it expires. Bounded: at most <see cref="WebhookOptions.MaxConcurrency"/> sends at once; per endpoint, only
/// when it has none in flight here; per tenant, at most <see cref="WebhookOptions.PerTenantConcurrency"/> in flight here.
/// So a slow or dead receiver holds a few slots, never the sender, and one tenant's backlog (many endpoints, slow
/// receivers) never holds up the others': each claim takes every tenant's first due delivery before anyone's second.
/// </summary>
public sealed class WebhookSender(
    IServiceScopeFactory scopes,
    OutboundUrlPolicy urls,
    IWebhookSecrets secrets,
    WebhookSignal signal,
    WebhookSendLoad load,
    IOptions<WebhookOptions> options,
    TimeProvider clock,
    ILogger<WebhookSender> logger) : BackgroundService
{
    private readonly WebhookOptions _settings = options.Value;
    private readonly ConcurrentDictionary<Guid, Task> _inFlight = new();
    private readonly HttpClient _http = urls.CreateHttpClient(options.Value.Timeout, "AssistenteIa-Webhooks");

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var nextPurge = clock.GetUtcNow();
        var claim = true;
        var lastClaim = clock.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (claim)
                {
                    lastClaim = clock.GetTimestamp();
                    await ClaimAndStartAsync(stoppingToken);
                }

                if (clock.GetUtcNow() >= nextPurge)
                {
                    nextPurge = clock.GetUtcNow() + TimeSpan.FromMinutes(10);
                    await PurgeAsync(stoppingToken);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Claiming or purging webhook deliveries failed; trying again next round");
            }

            // A wake-up for new deliveries whose endpoints all took deliveries since (a send that ended woke the sender
            // first) runs no claim: it would read past their backlog to take nothing, and their sends' end wakes it. The
            // poll counts from the last claim, so wake-ups that run no claim do not put it off.
            var untilPoll = _settings.PollInterval - clock.GetElapsedTime(lastClaim);
            var woken = await signal.WaitAsync(untilPoll > TimeSpan.Zero ? untilPoll : TimeSpan.Zero, stoppingToken);
            claim = woken.Always || clock.GetElapsedTime(lastClaim) >= _settings.PollInterval
                || woken.NewDeliveries.Any(d => load.CouldClaim(d.TenantId, d.EndpointIds));
        }

        // Let sends in progress record their outcome; one cut off is sent again once its claim expires.
        await Task.WhenAll(_inFlight.Values).WaitAsync(_settings.Timeout + TimeSpan.FromSeconds(1), CancellationToken.None)
            .ContinueWith(_ => { }, TaskScheduler.Default);
    }

    /// <summary>Finished deliveries older than the retention go, a batch at a time.</summary>
    private async Task PurgeAsync(CancellationToken stoppingToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var before = clock.GetUtcNow() - _settings.DeliveryRetention;
        var ids = await db.WebhookDeliveries
            .Where(d => d.Status != WebhookDeliveryStatus.Pending && d.CreatedAt < before)
            .OrderBy(d => d.CreatedAt)
            .Select(d => d.Id)
            .Take(5000)
            .ToListAsync(stoppingToken);
        if (ids.Count > 0)
        {
            await db.WebhookDeliveries.Where(d => ids.Contains(d.Id)).ExecuteDeleteAsync(stoppingToken);
            logger.LogInformation("Purged {Count} finished webhook deliveries older than {Retention}", ids.Count, _settings.DeliveryRetention);
        }
    }

    private async Task ClaimAndStartAsync(CancellationToken stoppingToken)
    {
        var free = load.Free;
        if (free <= 0)
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var exclusions = load.Exclusions();
        var claimed = await ClaimAsync(db, free, exclusions, _settings, stoppingToken);
        if (claimed.Count == 0)
        {
            return;
        }

        // The endpoints once per claim, not once per delivery: what a send needs of them (address, secret, whether
        // enabled) as they were when their deliveries were claimed. If this read fails, each send reads its own, as
        // before, rather than leave the claimed deliveries until their claims expire.
        Dictionary<Guid, WebhookEndpoint>? endpoints = null;
        try
        {
            var endpointIds = claimed.Select(d => d.EndpointId).Distinct().ToList();
            endpoints = await db.WebhookEndpoints.AsNoTracking().Where(e => endpointIds.Contains(e.Id)).ToDictionaryAsync(e => e.Id, CancellationToken.None);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Reading the endpoints of {Count} claimed webhook deliveries failed; each send reads its own", claimed.Count);
        }

        var claimAgain = load.Take(free, exclusions, [.. claimed.Select(d => (d.EndpointId, d.TenantId))]);

        foreach (var delivery in claimed)
        {
            _inFlight[delivery.Id] = endpoints is null
                ? SendAsync(delivery, null, endpointRead: false, stoppingToken)
                : SendAsync(delivery, endpoints.GetValueOrDefault(delivery.EndpointId), endpointRead: true, stoppingToken);
        }

        if (claimAgain)
        {
            signal.Wake();
        }
    }

    /// <summary>
    /// Claims up to <paramref name="free"/> due deliveries, none of the busy endpoints nor of the tenants at their share
    /// (<paramref name="exclusions"/>), ranked per endpoint, then per tenant within what the tenant has left, and taken
    /// rank by rank, in one committed statement. The candidates are locked as they are read (skipping those another
    /// sender holds), so two senders never claim the same delivery.
    /// </summary>
    public static Task<List<WebhookDelivery>> ClaimAsync(
        AppDbContext db, int free, ClaimExclusions exclusions, WebhookOptions settings, CancellationToken cancellationToken) =>
        // A tenant at its share is not read at all, so its backlog does not fill the candidates.
        db.WebhookDeliveries
            .FromSql($"""
                WITH candidates AS (
                    SELECT "Id", "EndpointId", "TenantId", "NextAttemptAt" FROM "WebhookDeliveries"
                    WHERE "Status" = 'Pending' AND "NextAttemptAt" <= now()
                      AND ("ClaimedUntil" IS NULL OR "ClaimedUntil" < now())
                      AND NOT ("EndpointId" = ANY({exclusions.BusyEndpoints}))
                      AND NOT ("TenantId" = ANY({exclusions.FullTenants}))
                    ORDER BY "NextAttemptAt"
                    LIMIT {free * 4}
                    FOR UPDATE SKIP LOCKED),
                per_endpoint AS (
                    SELECT "Id", "TenantId", "NextAttemptAt",
                        row_number() OVER (PARTITION BY "EndpointId" ORDER BY "NextAttemptAt") AS endpoint_rank
                    FROM candidates),
                per_tenant AS (
                    SELECT "Id", "TenantId", "NextAttemptAt",
                        row_number() OVER (PARTITION BY "TenantId" ORDER BY "NextAttemptAt") AS tenant_rank
                    FROM per_endpoint
                    WHERE endpoint_rank <= {settings.PerEndpointConcurrency}),
                picked AS (
                    SELECT p."Id" FROM per_tenant p
                    LEFT JOIN unnest({exclusions.HeldTenants}, {exclusions.HeldCounts}) AS h("TenantId", "InFlight") ON h."TenantId" = p."TenantId"
                    WHERE p.tenant_rank <= {settings.PerTenantConcurrency} - coalesce(h."InFlight", 0)
                    ORDER BY p.tenant_rank, p."NextAttemptAt"
                    LIMIT {free})
                UPDATE "WebhookDeliveries" AS d SET "ClaimedUntil" = now() + {settings.ClaimDuration}
                FROM picked WHERE d."Id" = picked."Id"
                RETURNING d.*
                """)
            .AsNoTracking()
            .ToListAsync(cancellationToken);

    /// <summary>
    /// Sends one claimed delivery (<paramref name="claimed"/>, as the claim returned it) to its endpoint, as read with the
    /// claim (<paramref name="endpointRead"/>; null: deleted) or read here, and records the outcome in one save.
    /// </summary>
    private async Task SendAsync(WebhookDelivery claimed, WebhookEndpoint? endpoint, bool endpointRead, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var (deliveryId, endpointId, tenantId) = (claimed.Id, claimed.EndpointId, claimed.TenantId);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            if (!endpointRead)
            {
                endpoint = await db.WebhookEndpoints.AsNoTracking().FirstOrDefaultAsync(e => e.Id == endpointId, stoppingToken);
            }

            var delivery = db.WebhookDeliveries.Attach(claimed).Entity;
            if (endpoint is not { Enabled: true })
            {
                delivery.Abandon(endpoint is null ? "The endpoint was deleted." : "The endpoint is disabled.");
                await db.SaveChangesAsync(CancellationToken.None);
                return;
            }

            string secret;
            try
            {
                secret = secrets.Unprotect(endpoint.ProtectedSecret);
            }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                // The data-protection key ring lost the key: no attempt can ever be signed; fail it visibly instead of looping.
                logger.LogError(ex, "The signing secret of webhook endpoint {EndpointId} cannot be decrypted; delivery {DeliveryId} failed", endpointId, deliveryId);
                delivery.Abandon("The endpoint's signing secret cannot be decrypted (data-protection key ring changed); register the endpoint again.");
                await db.SaveChangesAsync(CancellationToken.None);
                return;
            }

            var (statusCode, error) = await AttemptAsync(endpoint.Url, secret, delivery, stoppingToken);
            var now = clock.GetUtcNow();
            if (error is null)
            {
                // The endpoint's failures in a row end before the delivery shows it succeeded: whoever reads a
                // succeeded delivery reads the endpoint's count without the failures it ended.
                await db.WebhookEndpoints.Where(e => e.Id == endpointId && e.ConsecutiveFailures != 0)
                    .ExecuteUpdateAsync(s => s.SetProperty(e => e.ConsecutiveFailures, 0), CancellationToken.None);
                delivery.RecordSuccess(statusCode!.Value, now);
                await db.SaveChangesAsync(CancellationToken.None);
                return;
            }

            var retryAt = _settings.RetryPolicy.NextAttempt(delivery.Attempts + 1, now, Random.Shared.NextDouble());
            delivery.RecordFailure(statusCode, error, retryAt);
            await db.SaveChangesAsync(CancellationToken.None);
            logger.LogInformation(
                "Webhook delivery {DeliveryId} to endpoint {EndpointId} failed (attempt {Attempt}): {Error}; {Next}",
                deliveryId, endpointId, delivery.Attempts, error, retryAt is null ? "no attempts left" : $"next at {retryAt:O}");

            // Counted and disabled with single statements: other deliveries to the endpoint finish at the same time.
            await db.WebhookEndpoints.Where(e => e.Id == endpointId)
                .ExecuteUpdateAsync(s => s.SetProperty(e => e.ConsecutiveFailures, e => e.ConsecutiveFailures + 1).SetProperty(e => e.UpdatedAt, now), CancellationToken.None);
            var reason = $"Disabled at {now:O} after {_settings.DisableAfterFailures} failed delivery attempts in a row.";
            if (await db.WebhookEndpoints.Where(e => e.Id == endpointId && e.Enabled && e.ConsecutiveFailures >= _settings.DisableAfterFailures)
                    .ExecuteUpdateAsync(s => s.SetProperty(e => e.Enabled, false).SetProperty(e => e.DisabledReason, reason), CancellationToken.None) > 0)
            {
                logger.LogWarning("Webhook endpoint {EndpointId} disabled after {Failures} failed attempts in a row", endpointId, _settings.DisableAfterFailures);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the claim expires and the delivery is attempted again.
        }
        catch (DbUpdateConcurrencyException)
        {
            // The row is gone: its endpoint was deleted (and its deliveries with it) while it was sent.
            logger.LogInformation("Webhook delivery {DeliveryId} was deleted with its endpoint {EndpointId} while it was sent", deliveryId, endpointId);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Webhook delivery {DeliveryId} could not be recorded; it is attempted again when its claim expires", deliveryId);
        }
        finally
        {
            _inFlight.TryRemove(deliveryId, out _);
            if (load.Release(endpointId, tenantId))
            {
                signal.Wake();
            }
        }
    }

    /// <summary>One signed POST; the status code, and an error unless the receiver answered 2xx.</summary>
    private async Task<(int? StatusCode, string? Error)> AttemptAsync(string url, string secret, WebhookDelivery delivery, CancellationToken stoppingToken)
    {
        var timestamp = clock.GetUtcNow();
        var messageId = delivery.EventId.ToString();
        var signature = new StandardWebhook(secret).Sign(messageId, timestamp, delivery.PayloadJson);
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(delivery.PayloadJson, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("webhook-id", messageId);
        request.Headers.Add("webhook-timestamp", timestamp.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", signature);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_settings.Timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            return response.IsSuccessStatusCode ? (code, null) : (code, $"HTTP {code}: {await ReadStartAsync(response, timeout.Token)}");
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            return (null, $"No answer within {_settings.Timeout.TotalSeconds:0.#} s.");
        }
        catch (HttpRequestException ex) when (ex.Find<OutboundUrlRefusedException>() is { } refused)
        {
            // The guard's own words, once (the handler wraps them with the host and port).
            return (null, refused.Message);
        }
        catch (HttpRequestException ex)
        {
            return (null, ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message);
        }
    }

    /// <summary>The first bytes of an error answer, for the delivery's last error (the rest is not read).</summary>
    private static async Task<string> ReadStartAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[500];
            var read = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
            return Encoding.UTF8.GetString(buffer, 0, read);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return "";
        }
    }
}

/// <summary>
/// Wakes the sender as soon as deliveries were added or a send frees something, instead of at its next poll, and says
/// why: for new deliveries (<see cref="WakeFor"/>), the sender claims only if one of their endpoints could still take one.
/// </summary>
public sealed class WebhookSignal : IDisposable
{
    /// <summary>Wake-ups for new deliveries remembered at most between two claims; past it the next claim runs anyway.</summary>
    public const int MaxRemembered = 64;

    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly Lock _gate = new();
    private List<NewDeliveries> _newDeliveries = [];
    private bool _always;

    public void Dispose() => _signal.Dispose();

    /// <summary>A claim should run whatever it is for: a send freed something, or the last claim may have left some.</summary>
    public void Wake()
    {
        lock (_gate)
        {
            _always = true;
        }

        Release();
    }

    /// <summary>Deliveries for these endpoints of the tenant were stored.</summary>
    public void WakeFor(string tenantId, IReadOnlyList<Guid> endpointIds)
    {
        lock (_gate)
        {
            if (_newDeliveries.Count < MaxRemembered)
            {
                _newDeliveries.Add(new NewDeliveries(tenantId, endpointIds));
            }
            else
            {
                _always = true;
            }
        }

        Release();
    }

    /// <summary>Waits for a wake-up, at most <paramref name="timeout"/> (then a claim always runs: the poll).</summary>
    public async Task<WakeUp> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var woken = false;
        try
        {
            woken = await _signal.WaitAsync(timeout, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        lock (_gate)
        {
            var wakeUp = new WakeUp(_always || !woken, _newDeliveries);
            _always = false;
            _newDeliveries = [];
            return wakeUp;
        }
    }

    private void Release()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }
}

/// <summary>Deliveries stored for these endpoints of one tenant.</summary>
public sealed record NewDeliveries(string TenantId, IReadOnlyList<Guid> EndpointIds);

/// <summary>Why the sender woke: <paramref name="Always"/> (a poll, a send that freed something) or only for these new deliveries.</summary>
public sealed record WakeUp(bool Always, IReadOnlyList<NewDeliveries> NewDeliveries);
