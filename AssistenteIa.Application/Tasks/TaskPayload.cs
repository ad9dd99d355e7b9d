using System.Text.Json;
using System.Text.Json.Serialization;

namespace AssistenteIa.Application.Tasks;

/// <summary>
/// What the client asks the task to do. Stored as <c>Tasks.PayloadJson</c>. Which fields a task needs depends on its
/// capability; each capability's contract (<see cref="Capabilities.ICapabilityContract"/>) checks them at POST time.
/// </summary>
public sealed record TaskPayload
{
    /// <summary>The request to the model. Required by LLM_Generation, LLM_Classification and LLM_Reasoning; for ExternalIntegration, asks the model to summarise the response.</summary>
    public string Prompt { get; init; } = "";
    public string? Context { get; init; }

    /// <summary>A model name to use instead of the configured default.</summary>
    public string? Model { get; init; }
    public Dictionary<string, JsonElement>? Parameters { get; init; }

    /// <summary>Honoured by the local provider only: latency and failure injection.</summary>
    public SimulationOptions? Simulation { get; init; }

    /// <summary>Vision_OCR and Vision_ObjectDetection: the images (or PDF, for OCR) to read, each an uploaded file, a URL or a data URI.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<TaskInput>? Inputs { get; init; }

    /// <summary>LLM_Classification: the labels to choose from (default positive, neutral, negative).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Labels { get; init; }

    /// <summary>RuleEngine: the facts the rules read, as <c>data</c> in their expressions.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonElement? Data { get; init; }

    /// <summary>RuleEngine: the workflow, named rules evaluated against <see cref="Data"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<RuleDefinition>? Rules { get; init; }

    /// <summary>ExternalIntegration: the HTTP call to make.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public HttpCallSpec? Request { get; init; }

    /// <summary>Embedding_Search: a search over one of the tenant's collections.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SearchSpec? Search { get; init; }

    /// <summary>Embedding_Search: a document to chunk, embed and add to a collection (set by <c>POST /api/v1/collections/{name}/documents</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DocumentSpec? Document { get; init; }

    /// <summary>Vision_OCR: Tesseract languages, <c>eng</c> and/or <c>por</c> (default <c>eng</c>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Languages { get; init; }

    /// <summary>Vision_ObjectDetection: what to look for: face, eye, fullbody, catface, plate (default face).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Detect { get; init; }
}

/// <summary>One input of a task: exactly one of <see cref="FileId"/>, <see cref="Url"/> or <see cref="DataUri"/>.</summary>
public sealed record TaskInput
{
    /// <summary>A file uploaded with <c>POST /api/v1/files</c> by the same tenant.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Guid? FileId { get; init; }

    /// <summary>An http(s) URL, fetched by the worker under the same rules as webhooks (no internal addresses).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Url { get; init; }

    /// <summary>A base64 <c>data:</c> URI, e.g. <c>data:image/png;base64,…</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DataUri { get; init; }
}

/// <summary>A named rule: a boolean expression over <c>data</c>, and an optional output expression evaluated when it matches.</summary>
public sealed record RuleDefinition
{
    public string Name { get; init; } = "";

    /// <summary>E.g. <c>data.amount &gt; 1000 &amp;&amp; data.country != "BR"</c>.</summary>
    public string Expression { get; init; } = "";

    /// <summary>E.g. <c>data.amount * 0.1</c>; its value is reported with the match.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Output { get; init; }
}

/// <summary>ExternalIntegration: an outbound HTTP call. Secrets are named in <see cref="SecretHeaders"/> and read from configuration by the worker.</summary>
public sealed record HttpCallSpec
{
    /// <summary>GET, POST, PUT, PATCH, DELETE or HEAD (default GET).</summary>
    public string Method { get; init; } = "GET";
    public string Url { get; init; } = "";

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Headers { get; init; }

    /// <summary>Header name → name of a secret configured under <c>Integrations:Secrets</c> (the value never enters the payload).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? SecretHeaders { get; init; }

    /// <summary>The request body, sent as is (JSON values are sent as JSON).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonElement? Body { get; init; }

    /// <summary>Statuses that count as success (default any 2xx).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<int>? ExpectedStatus { get; init; }
}

/// <summary>Embedding_Search: the <see cref="TopK"/> chunks of the tenant's collection closest to the query.</summary>
public sealed record SearchSpec
{
    public string Collection { get; init; } = "";
    public string Query { get; init; } = "";

    /// <summary>1 to 50 (default 5).</summary>
    public int TopK { get; init; } = 5;
}

/// <summary>Embedding_Search: a document to add to a collection (<c>POST /api/v1/collections/{name}/documents</c> sets it).</summary>
public sealed record DocumentSpec
{
    public string Collection { get; init; } = "";
    public string Text { get; init; } = "";

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, JsonElement>? Metadata { get; init; }
}

public sealed record SimulationOptions
{
    public int LatencyMs { get; init; }
    public int FailAttempts { get; init; }
    public SimulatedFailure Failure { get; init; } = SimulatedFailure.Transient;
}

public enum SimulatedFailure
{
    Transient,
    Permanent,
}
