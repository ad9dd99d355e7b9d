using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AssistenteIa.Application.Tasks.CreateTask;

/// <summary>
/// The hash that says whether two create requests are the same request: computed on a canonical form (defaults
/// applied, object keys ordered, null members dropped), so <c>maxAttempts</c> omitted and sent as the default, or
/// the same parameters in another order, are one request.
/// </summary>
public static class RequestFingerprint
{
    public static string Of(CreateTaskCommand command, TaskOptions options)
    {
        JsonNode? payload;
        try
        {
            payload = JsonSerializer.SerializeToNode(command.Payload, JsonDefaults.Options);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or JsonException)
        {
            // Text that is not valid Unicode: this request can match no stored one, and validation will refuse it.
            payload = JsonValue.Create(Convert.ToHexString(SHA256.HashData(Encoding.Unicode.GetBytes(command.Payload.ToString()))));
        }

        var canonical = new JsonObject
        {
            ["type"] = command.Type.ToString(),
            ["priority"] = command.Priority.ToString(),
            ["payload"] = Canonical(payload),
            ["maxAttempts"] = command.MaxAttempts ?? options.DefaultMaxAttempts,
            ["scheduledAt"] = command.ScheduledAt?.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        };
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToJsonString())));
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
