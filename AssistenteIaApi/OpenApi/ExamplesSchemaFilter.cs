using System.Text.Json.Nodes;
using AssistenteIaApi.Interfaces.Http.RequestModels;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace AssistenteIaApi.OpenApi;

/// <summary>A ready-to-send example body in Swagger UI's "Try it out".</summary>
internal sealed class ExamplesSchemaFilter : ISchemaFilter
{
    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        if (context.Type == typeof(CreateTaskRequest) && schema is OpenApiSchema concrete)
        {
            concrete.Examples = [JsonNode.Parse("""
                {
                  "type": { "domain": "CustomerSupport", "capability": "LLM_Classification", "execution": "Async" },
                  "priority": "Normal",
                  "payload": {
                    "prompt": "Classify this ticket",
                    "context": "The app is broken and slow, I want a refund.",
                    "model": null,
                    "labels": ["refund", "bug", "question"]
                  },
                  "maxAttempts": 3,
                  "scheduledAt": null
                }
                """)!];
        }
    }
}
