using System.Text.Json;
using System.Text.Json.Serialization;

namespace AssistenteIa.Application;

/// <summary>The one JSON shape used for payloads, messages and the REST contract: camelCase, enums as their names.</summary>
public static class JsonDefaults
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.Converters.Add(new StrictEnumConverter());
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        options.AllowTrailingCommas = false;
        return options;
    }
}
