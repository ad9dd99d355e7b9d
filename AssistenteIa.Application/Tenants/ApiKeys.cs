using System.Security.Cryptography;
using System.Text;
using AssistenteIa.Application.Ports.Out;
using AssistenteIa.Domain.Entities;
using Microsoft.EntityFrameworkCore;

namespace AssistenteIa.Application.Tenants;

/// <summary>Creates and checks API keys. Keys are random and high-entropy, so an unsalted SHA-256 is enough to store them.</summary>
public sealed class ApiKeyService(IAppDbContext db, TimeProvider clock)
{
    public static string Hash(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Returns the tenant the key belongs to, or null for a missing, unknown or revoked key.</summary>
    public async Task<string?> FindTenantAsync(string? key, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(key) || key.Length > 200)
        {
            return null;
        }

        var hash = Hash(key);
        return await db.ApiKeys.AsNoTracking()
            .Where(k => k.KeyHash == hash && k.RevokedAt == null)
            .Select(k => k.TenantId)
            .FirstOrDefaultAsync(cancellationToken);
    }

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
