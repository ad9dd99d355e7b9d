using AssistenteIa.Domain.Exceptions;

namespace AssistenteIa.Domain.Entities;

/// <summary>A customer of the platform; every task belongs to exactly one.</summary>
public sealed class Tenant
{
    private Tenant()
    {
    }

    /// <summary>A short, stable slug such as <c>tenant-a</c>.</summary>
    public string Id { get; private set; } = "";
    public string Name { get; private set; } = "";
    public DateTimeOffset CreatedAt { get; private set; }

    public static Tenant Create(string id, string name, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(id) || id.Length > 64)
        {
            throw new DomainException("A tenant id is 1 to 64 characters.");
        }

        return new Tenant { Id = id, Name = name, CreatedAt = now };
    }
}

/// <summary>An API key, stored only as its SHA-256 hash; the clear key is shown once when created.</summary>
public sealed class ApiKey
{
    private ApiKey()
    {
    }

    public Guid Id { get; private set; }
    public string TenantId { get; private set; } = "";
    public string KeyHash { get; private set; } = "";

    /// <summary>The first characters of the key, to recognise it in listings without revealing it.</summary>
    public string Prefix { get; private set; } = "";
    public DateTimeOffset CreatedAt { get; private set; }
    public DateTimeOffset? RevokedAt { get; private set; }

    public static ApiKey Create(string tenantId, string keyHash, string prefix, DateTimeOffset now) => new()
    {
        Id = Guid.CreateVersion7(now),
        TenantId = tenantId,
        KeyHash = keyHash,
        Prefix = prefix,
        CreatedAt = now,
    };

    public void Revoke(DateTimeOffset now) => RevokedAt ??= now;
}
