using AssistenteIa.Application.Tenants;
using AssistenteIa.Infrastructure.Persistence;

namespace AssistenteIaApi.Interfaces.Cli;

/// <summary>
/// <c>dotnet run --project AssistenteIaApi -- apikeys create --tenant acme [--name "Acme Ltd"]</c>:
/// creates the tenant when new and prints a fresh API key once.
/// </summary>
public static class ApiKeysCommand
{
    public static bool IsInvocation(string[] args) => args.Length > 0 && args[0] == "apikeys";

    public static async Task<int> RunAsync(WebApplication app, string[] args)
    {
        var tenant = ValueOf(args, "--tenant");
        if (args.Length < 2 || args[1] != "create" || string.IsNullOrWhiteSpace(tenant))
        {
            await Console.Error.WriteLineAsync("usage: apikeys create --tenant <tenant-id> [--name <display name>]");
            return 2;
        }

        await app.Services.InitializeDatabaseAsync();
        await using var scope = app.Services.CreateAsyncScope();
        var key = await scope.ServiceProvider.GetRequiredService<ApiKeyService>().CreateKeyAsync(tenant, ValueOf(args, "--name"), CancellationToken.None);
        Console.WriteLine($"API key for tenant '{tenant}' (shown once, store it now):");
        Console.WriteLine(key);
        return 0;
    }

    private static string? ValueOf(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }
}
