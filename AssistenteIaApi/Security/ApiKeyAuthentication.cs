using System.Security.Claims;
using System.Text.Encodings.Web;
using AssistenteIa.Application.Tenants;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace AssistenteIaApi.Security;

/// <summary>Authenticates <c>X-Api-Key</c> against the hashed keys; the principal carries the tenant id.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyService keys,
    KeyLookupGuard guard,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";
    public const string TenantClaim = "tenant";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(HeaderName, out var values) || string.IsNullOrWhiteSpace(values.ToString()))
        {
            return AuthenticateResult.NoResult();
        }

        if (ApiKeyService.HashOf(values.ToString()) is not { } hash)
        {
            return AuthenticateResult.Fail("Unknown API key.");
        }

        string? tenant;
        if (keys.FindCachedTenant(hash) is { } cached)
        {
            tenant = cached;
        }
        else if (keys.LookupUnderway(hash) is { } underway)
        {
            // The key's query is running for another request: this one waits for its answer and takes no place of the
            // guard. A client's burst with a key this instance has not seen lately (it has just started) costs one
            // query and one place; it used to take them all, and its other requests were refused (503) as a flood.
            tenant = await underway.WaitAsync(Context.RequestAborted);
        }
        else
        {
            using var lookup = await guard.EnterAsync(Context.Connection.RemoteIpAddress, keys.WasValidLately(hash), Context.RequestAborted);
            if (lookup.Refusal is { } refusal)
            {
                Context.Items[typeof(LookupRefusal)] = refusal;
                return AuthenticateResult.Fail(refusal.Detail);
            }

            tenant = await keys.LookUpAsync(hash, Context.RequestAborted);
            if (tenant is not null)
            {
                lookup.Valid();
            }
        }

        if (tenant is null)
        {
            return AuthenticateResult.Fail("Unknown API key.");
        }

        var identity = new ClaimsIdentity([new Claim(TenantClaim, tenant)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items[typeof(LookupRefusal)] is LookupRefusal refusal)
        {
            // The key was not checked at all: saying "not valid" would send a client with a good key to look for another.
            await RefusalResponse.WriteAsync(Context, refusal.Status, refusal.Title, refusal.Detail, refusal.RetryAfter);
            return;
        }

        Response.StatusCode = StatusCodes.Status401Unauthorized;
        var missing = !Request.Headers.ContainsKey(HeaderName);
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "Unauthorized",
                Detail = missing
                    ? $"Send your API key in the {HeaderName} header."
                    : $"The API key in the {HeaderName} header is not valid.",
            },
        });
    }
}

public static class TenantPrincipal
{
    public static string TenantId(this ClaimsPrincipal user) =>
        user.FindFirstValue(ApiKeyAuthenticationHandler.TenantClaim)
        ?? throw new InvalidOperationException("The request was not authenticated with an API key.");
}
