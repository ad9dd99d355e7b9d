using System.Text.Json.Nodes;
using AssistenteIaApi.Interfaces.Http.Controllers;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace AssistenteIaApi.OpenApi;

/// <summary>One ready-to-send request body per capability on <c>POST /api/v1/tasks</c>: the fields each skill reads.</summary>
internal sealed class CapabilityExamplesOperationFilter : IOperationFilter
{
    private static readonly (string Capability, string Domain, string Summary, string Payload)[] Examples =
    [
        ("LLM_Generation", "ContentCreation", "A text answer to the prompt, using the context.", """{ "prompt": "Write a two-line release note", "context": "Fixed the login timeout. Added CSV export." }"""),
        ("LLM_Classification", "CustomerSupport", "One of the labels, with a confidence, as the JSON artifact 'classification'.", """{ "prompt": "Classify this ticket", "context": "The app is broken and slow, I want a refund.", "labels": ["refund", "bug", "question"] }"""),
        ("LLM_Reasoning", "DecisionAutomation", "The conclusion and the steps, as the artifacts 'conclusion' and 'steps'.", """{ "prompt": "Should we approve this refund?", "context": "The order was delivered late. The customer has no earlier refunds." }"""),
        ("RuleEngine", "ComplianceCheck", "Which rules match 'data', and their outputs, as the JSON artifact 'rules'. No model call.", """{ "data": { "amount": 1500, "country": "BR" }, "rules": [ { "name": "high-value", "expression": "data.amount > 1000", "output": "data.amount * 0.1" }, { "name": "foreign", "expression": "data.country != \"BR\"" } ] }"""),
        ("ExternalIntegration", "DataAnalysis", "An HTTP call (internal addresses refused); the response is the JSON artifact 'response'. Secrets are named, never sent.", """{ "request": { "method": "GET", "url": "https://api.example.com/orders/42", "headers": { "Accept": "application/json" }, "secretHeaders": { "Authorization": "orders-api-token" }, "expectedStatus": [200] }, "prompt": "Summarise the order's state" }"""),
        ("Embedding_Search", "DocumentProcessing", "The collection's chunks closest to the query, as the JSON artifact 'results'. Add documents with POST /api/v1/collections/{name}/documents.", """{ "search": { "collection": "handbook", "query": "how are refunds paid?", "topK": 5 } }"""),
        ("Vision_OCR", "DocumentProcessing", "The text and word boxes of images or PDF pages ('text', 'words'). Upload with POST /api/v1/files.", """{ "inputs": [ { "fileId": "0196a4c2-5f1e-7c3a-9b2d-3e4f5a6b7c8d" } ], "languages": ["eng", "por"] }"""),
        ("Vision_ObjectDetection", "MonitoringAlert", "Boxes, labels and scores ('detections') and an annotated image ('annotated').", """{ "inputs": [ { "url": "https://example.com/camera/frame.jpg" } ], "detect": ["face", "fullbody"] }"""),
    ];

    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        if (context.MethodInfo.Name != nameof(TasksController.Create)
            || context.MethodInfo.DeclaringType != typeof(TasksController)
            || operation.RequestBody?.Content?.TryGetValue("application/json", out var media) != true
            || media is not OpenApiMediaType json)
        {
            return;
        }

        json.Examples = Examples.ToDictionary(
            e => e.Capability,
            e => (IOpenApiExample)new OpenApiExample
            {
                Summary = e.Capability,
                Description = e.Summary,
                Value = new JsonObject
                {
                    ["type"] = new JsonObject { ["domain"] = e.Domain, ["capability"] = e.Capability, ["execution"] = "Async" },
                    ["priority"] = "Normal",
                    ["payload"] = JsonNode.Parse(e.Payload),
                },
            });
    }
}
