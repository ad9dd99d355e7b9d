using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace AssistenteIaApi.OpenApi;

/// <summary>
/// Response models (the <c>…Dto</c> records) are written with every property, null included (see
/// <c>JsonDefaults</c>), so each property is required: generated clients then type the fields that are always there
/// as present, and only the nullable ones as possibly null.
/// </summary>
internal sealed class ResponseModelsSchemaFilter : ISchemaFilter
{
    public void Apply(IOpenApiSchema schema, SchemaFilterContext context)
    {
        if (schema is OpenApiSchema { Properties.Count: > 0 } concrete && context.Type.Name.EndsWith("Dto", StringComparison.Ordinal))
        {
            concrete.Required = new SortedSet<string>(concrete.Properties.Keys, StringComparer.Ordinal);
        }
    }
}
