using System.Net.Http.Headers;
using System.Text;

namespace AssistenteIa.Tests.Integration;

/// <summary>
/// A deterministic stream of malformed and hostile requests: wrong types, huge numbers, deep nesting, invalid
/// UTF-8, control characters, huge headers, odd paths and methods. Each comes with a description for the report.
/// </summary>
public static class HostileRequests
{
    private const string ValidType = """{"domain":"DataAnalysis","capability":"LLM_Generation","execution":"Async"}""";

    private static readonly string[] WrongValues =
    [
        "null", "true", "0", "-1", "1.5", "1e400", "-1e400", "99999999999999999999999999", "9223372036854775808", "\"\"", "\"x\"",
        "[]", "[1,2]", "{}", "{\"a\":1}", "\"\\u0000\"", "\"\\ud800\"", "\"\\udfff\\ud800\"", "NaN", "Infinity", "\"2026-13-45T99:99:99Z\"",
        "\"" + new string('z', 5000) + "\"",
    ];

    private static readonly string[] Fields =
    [
        "type", "type.domain", "type.capability", "type.execution", "priority", "payload", "payload.prompt", "payload.context",
        "payload.model", "payload.parameters", "payload.simulation", "payload.simulation.latencyMs", "payload.simulation.failAttempts",
        "payload.simulation.failure", "maxAttempts", "scheduledAt",
    ];

    private static readonly string[] Paths =
    [
        "/api/v1/tasks/%00", "/api/v1/tasks/..%2f..%2fetc%2fpasswd", "/api/v1/tasks/%ff%fe", "/api/v1/tasks/00000000-0000-0000-0000-000000000000/attempts/x",
        "/api//v1//tasks", "/api/v1/tasks/%E2%80%AE", "/api/v1/tasks/" + new string('a', 4000), "/api/v1/tasks/{id}", "/api/v1/tasks/1;DROP TABLE Tasks",
        "/api/v1/tasks/ffffffff-ffff-ffff-ffff-ffffffffffff/cancel", "/api/v2/tasks", "/api/v1/TASKS", "/api/v1/tasks/%20", "/swagger/v1/../../appsettings.json",
    ];

    private static readonly string[] Queries =
    [
        "page=1e10", "page=-0", "page=%00", "pageSize=%00", "status=%00", "status=Queued&status=Running", "page=1&page=2", "pageSize=2147483648",
        "page=0x10", "page=+1", "page= 1", "status=queued", "type=%ff", "domain=" + new string('d', 3000), "capability[]=x", "execution={}",
        "page=21474837&pageSize=100", "pageSize=-2147483648", "includePayload=TRUE", "includePayload=1",
    ];

    private static readonly HttpMethod[] Methods =
    [
        HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options, HttpMethod.Head, new("PROPFIND"), new("TRACE"), new("FOO"),
    ];

    public static IEnumerable<(string What, HttpRequestMessage Request)> Generate(int seed, Uri baseAddress)
    {
        var random = new Random(seed);

        // Every field with every wrong value.
        foreach (var field in Fields)
        {
            foreach (var value in WrongValues)
            {
                yield return ($"{field} = {Shorten(value)}", Post(WithField(field, value)));
            }
        }

        // Deep nesting inside parameters and as the whole body.
        foreach (var depth in new[] { 65, 200, 1000, 5000 })
        {
            var objects = string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);
            var arrays = new string('[', depth) + new string(']', depth);
            yield return ($"parameters nested {depth} objects deep", Post(WithField("payload.parameters", "{\"deep\":" + objects + "}")));
            yield return ($"parameters nested {depth} arrays deep", Post(WithField("payload.parameters", "{\"deep\":" + arrays + "}")));
            yield return ($"body nested {depth} arrays deep", Post(arrays));
        }

        // Invalid UTF-8 inside and around strings.
        byte[][] invalidUtf8 = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]];
        foreach (var bytes in invalidUtf8)
        {
            var before = Encoding.UTF8.GetBytes($$"""{"type":{{ValidType}},"payload":{"prompt":"x""");
            var after = Encoding.UTF8.GetBytes("\"}}");
            yield return ($"invalid UTF-8 {Convert.ToHexString(bytes)} in the prompt", PostBytes([.. before, .. bytes, .. after]));
            yield return ($"invalid UTF-8 {Convert.ToHexString(bytes)} as the body", PostBytes(bytes));
        }

        // Raw control characters (invalid JSON) and escaped ones (valid JSON, refused or accepted without a 5xx).
        for (var c = 0; c < 32; c++)
        {
            var raw = "{\"type\":" + ValidType + ",\"payload\":{\"prompt\":\"a" + (char)c + "b\"}}";
            yield return ($"raw control character {c} in the prompt", Post(raw));
            yield return ($"escaped control character {c} in the context", Post(WithField("payload.context", $"\"\\u{c:x4}\"")));
        }

        // Huge and hostile headers.
        foreach (var size in new[] { 300, 8_000, 40_000, 200_000 })
        {
            var request = Post(WithField("payload.prompt", "\"headers\""));
            request.Headers.TryAddWithoutValidation("X-Api-Key", new string('k', size));
            yield return ($"X-Api-Key of {size} characters", request);

            var keyed = Post(WithField("payload.prompt", "\"headers\""));
            keyed.Headers.TryAddWithoutValidation("Idempotency-Key", new string('i', size));
            yield return ($"Idempotency-Key of {size} characters", keyed);
        }

        for (var i = 0; i < 20; i++)
        {
            var request = Post(WithField("payload.prompt", "\"many headers\""));
            for (var h = 0; h < 50 * (i + 1); h++)
            {
                request.Headers.TryAddWithoutValidation($"X-Junk-{h}", new string('j', 100));
            }

            yield return ($"{50 * (i + 1)} junk headers", request);
        }

        foreach (var value in new[] { "\u0001", "a\u007fb", "key\twith\ttabs", " ", "" })
        {
            var request = Post(WithField("payload.prompt", "\"odd key\""));
            request.Headers.TryAddWithoutValidation("Idempotency-Key", value);
            yield return ($"Idempotency-Key {Shorten(value)}", request);
        }

        foreach (var contentType in new[] { "text/plain", "application/xml", "application/json; charset=utf-16", "multipart/form-data", "application/json; charset=nope", "*/*" })
        {
            var request = Post(WithField("payload.prompt", "\"types\""));
            request.Content!.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            yield return ($"content type {contentType}", request);
        }

        // Odd paths, queries and methods.
        foreach (var path in Paths)
        {
            foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
            {
                yield return ($"{method} {Shorten(path)}", new HttpRequestMessage(method, new Uri(baseAddress, path)) { Content = method == HttpMethod.Post ? Json("{}") : null });
            }
        }

        foreach (var query in Queries)
        {
            yield return ($"GET ?{Shorten(query)}", new HttpRequestMessage(HttpMethod.Get, new Uri(baseAddress, "/api/v1/tasks?" + query)));
        }

        foreach (var method in Methods)
        {
            foreach (var path in new[] { "/api/v1/tasks", "/api/v1/tasks/00000000-0000-0000-0000-000000000000", "/api/v1/tasks/00000000-0000-0000-0000-000000000000/cancel" })
            {
                yield return ($"{method} {path}", new HttpRequestMessage(method, new Uri(baseAddress, path)) { Content = Json("{}") });
            }
        }

        // Random mutations of a nearly valid body (bytes flipped, cut short). It is wrong twice over (a NUL in the
        // prompt, maxAttempts 11), so that no mutation of one to three bytes can make it acceptable.
        var valid = Encoding.UTF8.GetBytes("{\"type\":" + ValidType + ""","priority":"High","payload":{"prompt":"mutate me\u0000","context":"ctx","parameters":{"k":[1,2,3]}},"maxAttempts":11}""");
        for (var i = 0; i < 500; i++)
        {
            var mutated = (byte[])valid.Clone();
            var flips = random.Next(1, 4);
            for (var f = 0; f < flips; f++)
            {
                mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
            }

            if (random.Next(4) == 0)
            {
                mutated = mutated[..random.Next(mutated.Length)];
            }

            yield return ($"mutated body #{i}", PostBytes(mutated));
        }

        yield return ("duplicated keys", Post("{\"type\":" + ValidType + ",\"type\":" + ValidType + ""","payload":{"prompt":"a","prompt":"b"},"maxAttempts":11}"""));
    }

    /// <summary>
    /// A body with one field replaced by <paramref name="value"/>. It also carries maxAttempts 11 (or a blank prompt when
    /// maxAttempts is the field), so that a value that happens to be acceptable still makes a request that creates nothing.
    /// </summary>
    private static string WithField(string field, string value)
    {
        var type = field.StartsWith("type.", StringComparison.Ordinal)
            ? ValidType.Replace($"\"{field[5..]}\":\"{Part(field[5..])}\"", $"\"{field[5..]}\":{value}", StringComparison.Ordinal)
            : field == "type" ? value : ValidType;
        var simulation = field switch
        {
            "payload.simulation" => value,
            "payload.simulation.latencyMs" => $"{{\"latencyMs\":{value}}}",
            "payload.simulation.failAttempts" => $"{{\"failAttempts\":{value}}}",
            "payload.simulation.failure" => $"{{\"failure\":{value}}}",
            _ => "null",
        };
        var prompt = field == "payload.prompt" ? value : field == "maxAttempts" ? "\" \"" : "\"p\"";
        var payload = field == "payload"
            ? value
            : $$"""{"prompt":{{prompt}},"context":{{(field == "payload.context" ? value : "null")}},"model":{{(field == "payload.model" ? value : "null")}},"parameters":{{(field == "payload.parameters" ? value : "null")}},"simulation":{{simulation}}}""";
        var body = $$"""{"type":{{type}},"priority":{{(field == "priority" ? value : "\"Low\"")}},"payload":{{payload}},"maxAttempts":{{(field == "maxAttempts" ? value : "11")}},"scheduledAt":{{(field == "scheduledAt" ? value : "null")}}}""";
        return body;
    }

    private static string Part(string name) => name switch
    {
        "domain" => "DataAnalysis",
        "capability" => "LLM_Generation",
        _ => "Async",
    };

    private static HttpRequestMessage Post(string json) => new(HttpMethod.Post, "/api/v1/tasks") { Content = Json(json) };

    private static HttpRequestMessage PostBytes(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return new HttpRequestMessage(HttpMethod.Post, "/api/v1/tasks") { Content = content };
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static string Shorten(string text) => text.Length > 40 ? $"{text[..40]}… ({text.Length} chars)" : text;
}
