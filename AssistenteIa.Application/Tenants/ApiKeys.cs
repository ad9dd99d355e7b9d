using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Internal;
using Microsoft.Extensions.Options;

namespace AssistenteIa.Application.Tenants;

/// <summary>Section <c>Tenancy</c>: how API keys are checked.</summary>
public sealed class TenancyOptions
{
    public const string Section = "Tenancy";

    /// <summary>
    /// How long a key found valid is trusted without asking the database again: every request would otherwise cost a
    /// query. So a key revoked in the database keeps working for up to this long on each API instance. 0 turns the
    /// cache off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ApiKeyCacheDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Unknown or revoked keys one client address (an IPv6 client: its /64) may send in a minute; after that its keys
    /// not found valid lately are refused (429) without a query for up to a minute. 0: no limit.
    /// </summary>
    [Range(0, 1_000_000)]
    public int UnknownKeysPerAddress { get; set; } = 60;

    /// <summary>
    /// Lookups of keys not found valid lately that one API instance runs at once (<c>KeyLookupGuard.LookupQueueFactor</c>
    /// times as many wait; the next is refused with 503): a flood of made-up keys holds this many of the API's connections, not all. 0: no limit.
    /// </summary>
    [Range(0, 1_000)]
    public int MaxConcurrentKeyLookups { get; set; } = 8;
}

/// <summary>
/// The keys found valid lately, by hash, per process. Only keys the database knows get in, so unknown keys cannot
/// fill it, and it holds at most <see cref="MaxEntries"/> (a new key past that is simply looked up each time).
/// Two memories: the tenant of a key, trusted for <see cref="TenancyOptions.ApiKeyCacheDuration"/> without a query;
/// and, for <see cref="ValidLatelyDuration"/>, only that the key was valid: such a key is still looked up, but is
/// not held to the limits on unknown keys (<c>KeyLookupGuard</c>), so a tenant sharing an address with a client that
/// sends bad keys (a proxy, a NAT) keeps working.
/// </summary>
public sealed class ApiKeyCache(TimeProvider clock, IOptions<TenancyOptions> options) : IDisposable
{
    public const int MaxEntries = 10_000;

    public static readonly TimeSpan ValidLatelyDuration = TimeSpan.FromDays(1);

    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = MaxEntries, Clock = new Clock(clock) });
    private readonly MemoryCache _validLately = new(new MemoryCacheOptions { SizeLimit = MaxEntries, Clock = new Clock(clock) });
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task<string?>> _lookups = new();

    public bool TryGet(string hash, out string? tenantId) => _cache.TryGetValue(hash, out tenantId);

    /// <summary>Whether the key was found valid within <see cref="ValidLatelyDuration"/> (and not found invalid since).</summary>
    public bool WasValidLately(string hash) => _validLately.TryGetValue(hash, out _);

    public void Add(string hash, string tenantId)
    {
        _validLately.Set(hash, true, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = ValidLatelyDuration });
        if (options.Value.ApiKeyCacheDuration > TimeSpan.Zero)
        {
            _cache.Set(hash, tenantId, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = options.Value.ApiKeyCacheDuration });
        }
    }

    /// <summary>The key was looked up and is unknown or revoked: from now on it is held to the limits on unknown keys.</summary>
    public void Forget(string hash) => _validLately.Remove(hash);

    /// <summary>
    /// Runs <paramref name="query"/> for a key unless a query for it is running already, whose answer is then shared:
    /// requests that miss the cache together (its entry just ran out, a burst from a client) cost one query, not one
    /// each. The query runs to its end whoever stops waiting (it is short; its answer serves the others).
    /// </summary>
    public async Task<string?> LookUpOnceAsync(string hash, Func<Task<string?>> query, CancellationToken cancellationToken)
    {
        var mine = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = _lookups.GetOrAdd(hash, mine.Task);
        if (running != mine.Task)
        {
            return await running.WaitAsync(cancellationToken);
        }

        try
        {
            var tenantId = await query();
            mine.SetResult(tenantId);
            return tenantId;
        }
        catch (Exception ex)
        {
            mine.SetException(ex);
            _ = mine.Task.Exception; // observed here: the requests that shared it got it too
            throw;
        }
        finally
        {
            _lookups.TryRemove(new KeyValuePair<string, Task<string?>>(hash, mine.Task));
        }
    }

    /// <summary>The query for the key running now (<see cref="LookUpOnceAsync"/>), whose answer a request may share; null when none is.</summary>
    public Task<string?>? Underway(string hash) => _lookups.TryGetValue(hash, out var running) ? running : null;

    public void Dispose()
    {
        _cache.Dispose();
        _validLately.Dispose();
    }

    private sealed class Clock(TimeProvider clock) : ISystemClock
    {
        public DateTimeOffset UtcNow => clock.GetUtcNow();
    }
}

/// <summary>Creates and checks API keys. Keys are random and high-entropy, so an unsalted SHA-256 is enough to store them.</summary>
public sealed class ApiKeyService(IAppDbContext db, TimeProvider clock, ApiKeyCache cache)
{
    public static string Hash(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The hash a key is stored by; null when it cannot be a key at all (blank, overlong): refused without a lookup.</summary>
    public static string? HashOf(string? key) => string.IsNullOrWhiteSpace(key) || key.Length > 200 ? null : Hash(key);

    /// <summary>The tenant of a key found valid lately (<see cref="ApiKeyCache"/>), without a query; null when not cached.</summary>
    public string? FindCachedTenant(string hash) => cache.TryGet(hash, out var tenantId) ? tenantId : null;

    /// <summary>The query for the key running now for another request, whose answer may be shared; null when none is.</summary>
    public Task<string?>? LookupUnderway(string hash) => cache.Underway(hash);

    /// <summary>Whether the key was found valid within a day: see <see cref="ApiKeyCache"/>.</summary>
    public bool WasValidLately(string hash) => cache.WasValidLately(hash);

    /// <summary>Returns the tenant the key belongs to, or null for a missing, unknown or revoked key (revoked for longer than <see cref="TenancyOptions.ApiKeyCacheDuration"/>).</summary>
    public async Task<string?> FindTenantAsync(string? key, CancellationToken cancellationToken) =>
        HashOf(key) is not { } hash ? null : FindCachedTenant(hash) ?? await LookUpAsync(hash, cancellationToken);

    /// <summary>
    /// Asks the database for the tenant of a key by its hash (null: unknown or revoked), once for all the requests
    /// asking at the same moment (<see cref="ApiKeyCache.LookUpOnceAsync"/>), and remembers the answer.
    /// </summary>
    public Task<string?> LookUpAsync(string hash, CancellationToken cancellationToken) =>
        cache.LookUpOnceAsync(hash, async () =>
        {
            var tenantId = await db.ApiKeys.AsNoTracking()
                .Where(k => k.KeyHash == hash && k.RevokedAt == null)
                .Select(k => k.TenantId)
                .FirstOrDefaultAsync(CancellationToken.None);
            if (tenantId is null)
            {
                cache.Forget(hash);
            }
            else
            {
                cache.Add(hash, tenantId);
            }

            return tenantId;
        }, cancellationToken);

    /// <summary>Creates the tenant when new and a fresh key for it; the clear key is returned once and never stored.</summary>
    public async Task<string> CreateKeyAsync(string tenantId, string? tenantName, CancellationToken cancellationToken)
    {
        var key = "aia_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).Replace('+', '-').Replace('/', '_').TrimEnd('=');
        await AddKeyAsync(tenantId, tenantName, key, cancellationToken);
        return key;
    }

    /// <summary>Makes sure a known key exists (the development tenants); does nothing when it is already there.</summary>
    public async Task EnsureKeyAsync(string tenantId, string key, CancellationToken cancellationToken)
    {
        var hash = Hash(key);
        if (await db.ApiKeys.AnyAsync(k => k.KeyHash == hash, cancellationToken))
        {
            return;
        }

        try
        {
            await AddKeyAsync(tenantId, tenantId, key, cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Another instance starting at the same time may have seeded it first.
            db.ClearTracking();
            if (!await db.ApiKeys.AnyAsync(k => k.KeyHash == hash, cancellationToken))
            {
                throw;
            }
        }
    }

    private async Task AddKeyAsync(string tenantId, string? tenantName, string key, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (!await db.Tenants.AnyAsync(t => t.Id == tenantId, cancellationToken))
        {
            db.Tenants.Add(Tenant.Create(tenantId, tenantName ?? tenantId, now));
        }

        db.ApiKeys.Add(ApiKey.Create(tenantId, Hash(key), key[..Math.Min(8, key.Length)], now));
        await db.SaveChangesAsync(cancellationToken);
    }
}
