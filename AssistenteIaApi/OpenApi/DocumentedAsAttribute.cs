using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace AssistenteIaApi.OpenApi;

/// <summary>
/// The type the OpenAPI document gives a parameter the controller binds as text. Binding stays text so that a bad
/// value gets the API's own answer (a 400 naming the field, a 404 for a malformed id); clients still see the real
/// type. Several enum types document a value that may be a name from any of them.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class DocumentedAsAttribute(params Type[] types) : Attribute
{
    public IReadOnlyList<Type> Types { get; } = types;
}

/// <summary>Gives each parameter marked <see cref="DocumentedAsAttribute"/> the schema of its documented type.</summary>
internal sealed class DocumentedAsParameterFilter : IParameterFilter
{
    public void Apply(IOpenApiParameter parameter, ParameterFilterContext context)
    {
        if (parameter is not OpenApiParameter concrete || context.ParameterInfo?.GetCustomAttribute<DocumentedAsAttribute>() is not { } documented)
        {
            return;
        }

        concrete.Schema = documented.Types.Count == 1
            ? context.SchemaGenerator.GenerateSchema(documented.Types[0], context.SchemaRepository)
            : new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Enum = documented.Types.SelectMany(Enum.GetNames).Select(name => (JsonNode)JsonValue.Create(name)).ToList(),
            };
    }
}
