using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AssistenteIa.Application.Tasks.Commands.CreateTask;

/// <summary>
/// The hash that says whether two create requests are the same request: computed on a canonical form (defaults
/// applied, object keys ordered, null members dropped), so <c>maxAttempts</c> omitted and sent as the default, or
/// the same parameters in another order, are one request.
/// </summary>
public static class RequestFingerprint
{
    public static string Of(CreateTaskCommand command, TaskOptions options)
    {
        string canonical;
        try
        {
            canonical = new JsonObject
            {
                ["type"] = command.Type.ToString(),
                ["priority"] = command.Priority.ToString(),
                ["payload"] = Canonical(JsonSerializer.SerializeToNode(command.Payload, JsonDefaults.Options)),
                ["maxAttempts"] = command.MaxAttempts ?? options.DefaultMaxAttempts,
                ["scheduledAt"] = command.ScheduledAt?.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            }.ToJsonString();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or JsonException)
        {
            canonical = AsSent(command, options);
        }

        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    /// <summary>
    /// An object repeating a key has no canonical form: the request as sent still tells a replay of this exact
    /// request from another. Text that is not valid Unicode cannot even be written: such a request matches none.
    /// </summary>
    private static string AsSent(CreateTaskCommand command, TaskOptions options)
    {
        try
        {
            return "as-sent:" + JsonSerializer.Serialize(
                new { Type = command.Type.ToString(), command.Priority, command.Payload, MaxAttempts = command.MaxAttempts ?? options.DefaultMaxAttempts, command.ScheduledAt },
                JsonDefaults.Options);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or JsonException)
        {
            return "unmatchable:" + Guid.NewGuid();
        }
    }

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj
            .Where(p => p.Value is not null)
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray array => new JsonArray(array.Select(Canonical).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };
}
