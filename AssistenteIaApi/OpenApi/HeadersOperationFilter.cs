using AssistenteIaApi.Interfaces.Http.Controllers;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace AssistenteIaApi.OpenApi;

/// <summary>Documents the headers the controllers read or write that attributes cannot describe: Location and X-Total-Count.</summary>
internal sealed class HeadersOperationFilter : IOperationFilter
{
    public void Apply(OpenApiOperation operation, OperationFilterContext context)
    {
        var action = context.MethodInfo.Name;
        if (operation.Responses is null)
        {
            return;
        }

        if (action == nameof(TasksController.Create) && operation.Responses.TryGetValue("202", out var accepted) && accepted is OpenApiResponse created)
        {
            created.Headers ??= new Dictionary<string, IOpenApiHeader>();
            created.Headers["Location"] = new OpenApiHeader
            {
                Description = "Where the task can be read: /api/v1/tasks/{id}.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            };
        }

        if (action == nameof(TasksController.List) && operation.Responses.TryGetValue("200", out var ok) && ok is OpenApiResponse page)
        {
            page.Headers ??= new Dictionary<string, IOpenApiHeader>();
            page.Headers[TasksController.TotalCountHeader] = new OpenApiHeader
            {
                Description = "How many tasks match the filters, across all pages.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
            };
        }
    }
}
