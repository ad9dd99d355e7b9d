using AssistenteIa.Application.Tenants;
using AssistenteIa.Infrastructure.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AssistenteIa.Tests.Integration;

/// <summary>The API-key lookup trusts a key found valid for a while, against the real key table.</summary>
[Collection(AppCollection.Name)]
public sealed class ApiKeyCacheTests(AppFixture fixture)
{
    private static readonly TimeSpan CacheDuration = TimeSpan.FromSeconds(30);

    /// <summary>A key service with the default cache duration and the system clock, for tests that need keys.</summary>
    public static ApiKeyService Service(AppDbContext db) =>
        new(db, TimeProvider.System, new ApiKeyCache(TimeProvider.System, Options.Create(new TenancyOptions())));

    [Fact]
    public async Task A_valid_key_is_looked_up_once_per_cache_duration_and_a_revocation_applies_after_it()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var cache = new ApiKeyCache(clock, Options.Create(new TenancyOptions { ApiKeyCacheDuration = CacheDuration }));
        await using var db = CreateDbContext();
        var keys = new ApiKeyService(db, clock, cache);
        var tenant = $"cache-{Guid.NewGuid():N}"[..24];
        var key = await keys.CreateKeyAsync(tenant, null, CancellationToken.None);

        Assert.Equal(tenant, await keys.FindTenantAsync(key, CancellationToken.None));
        await RevokeAsync(key);

        // Within the duration the database is not asked again: the revoked key still passes.
        clock.Advance(CacheDuration - TimeSpan.FromSeconds(1));
        Assert.Equal(tenant, await keys.FindTenantAsync(key, CancellationToken.None));

        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(await keys.FindTenantAsync(key, CancellationToken.None));
    }

    [Fact]
    public async Task A_key_found_valid_stays_known_as_valid_for_a_day_past_its_cache_until_a_lookup_finds_it_revoked()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var cache = new ApiKeyCache(clock, Options.Create(new TenancyOptions { ApiKeyCacheDuration = CacheDuration }));
        await using var db = CreateDbContext();
        var keys = new ApiKeyService(db, clock, cache);
        var key = await keys.CreateKeyAsync($"valid-{Guid.NewGuid():N}"[..24], null, CancellationToken.None);
        var hash = ApiKeyService.Hash(key);
        Assert.False(keys.WasValidLately(hash));

        Assert.NotNull(await keys.FindTenantAsync(key, CancellationToken.None));
        clock.Advance(ApiKeyCache.ValidLatelyDuration - TimeSpan.FromMinutes(1));
        Assert.Null(keys.FindCachedTenant(hash));
        Assert.True(keys.WasValidLately(hash));

        await RevokeAsync(key);
        Assert.Null(await keys.LookUpAsync(hash, CancellationToken.None));
        Assert.False(keys.WasValidLately(hash));
    }

    [Fact]
    public async Task Unknown_keys_are_not_remembered_and_a_zero_duration_turns_the_cache_off()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var db = CreateDbContext();
        using var cache = new ApiKeyCache(clock, Options.Create(new TenancyOptions { ApiKeyCacheDuration = CacheDuration }));
        var keys = new ApiKeyService(db, clock, cache);
        var key = $"aia_unknown-{Guid.NewGuid():N}";

        Assert.Null(await keys.FindTenantAsync(key, CancellationToken.None));
        var tenant = $"cache-{Guid.NewGuid():N}"[..24];
        await keys.EnsureKeyAsync(tenant, key, CancellationToken.None);
        Assert.Equal(tenant, await keys.FindTenantAsync(key, CancellationToken.None));

        using var off = new ApiKeyCache(clock, Options.Create(new TenancyOptions { ApiKeyCacheDuration = TimeSpan.Zero }));
        var uncached = new ApiKeyService(db, clock, off);
        Assert.Equal(tenant, await uncached.FindTenantAsync(key, CancellationToken.None));
        await RevokeAsync(key);
        Assert.Null(await uncached.FindTenantAsync(key, CancellationToken.None));
    }

    private Task RevokeAsync(string key) =>
        fixture.ScalarAsync<int>("""WITH revoked AS (UPDATE "ApiKeys" SET "RevokedAt" = now() WHERE "KeyHash" = @p0 RETURNING 1) SELECT count(*)::int FROM revoked""", ApiKeyService.Hash(key));

    private AppDbContext CreateDbContext() =>
        new(new DbContextOptionsBuilder<AppDbContext>().UseNpgsql(fixture.DatabaseConnectionString).Options);
}
