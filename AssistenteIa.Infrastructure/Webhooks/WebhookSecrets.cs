using System.Security.Cryptography;
using AssistenteIa.Application.Ports.Out;
using Microsoft.AspNetCore.DataProtection;

namespace AssistenteIa.Infrastructure.Webhooks;

/// <summary>Webhook signing secrets: 32 random bytes, stored encrypted by ASP.NET Data Protection (key ring in the database).</summary>
public sealed class WebhookSecrets(IDataProtectionProvider provider) : IWebhookSecrets
{
    public const string Prefix = "whsec_";

    private readonly IDataProtector _protector = provider.CreateProtector("AssistenteIa.Webhooks.SigningSecret.v1");

    public string NewSecret() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public string Protect(string secret) => _protector.Protect(secret);

    public string Unprotect(string protectedSecret) => _protector.Unprotect(protectedSecret);
}
