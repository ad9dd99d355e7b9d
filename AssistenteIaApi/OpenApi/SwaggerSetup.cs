using AssistenteIaApi.Security;
using Microsoft.OpenApi;

namespace AssistenteIaApi.OpenApi;

/// <summary>OpenAPI 3.0 document and Swagger UI, with the API key as an authorizable security scheme.</summary>
public static class SwaggerSetup
{
    public const string DocumentName = "v1";

    /// <summary>How the API key is described outside Development (and so in the committed copy of the document).</summary>
    public const string ApiKeyHelp = "Your tenant's API key.";

    /// <summary>In Development the seeded keys are named too.</summary>
    public const string DevelopmentApiKeyHelp = "Your tenant's API key (development: dev-key-tenant-a or dev-key-tenant-b).";

    public static IServiceCollection AddSwaggerDocumentation(this IServiceCollection services, IHostEnvironment environment)
    {
        // The seeded development keys exist only in Development; elsewhere naming them would only help an attacker guess.
        var keyHelp = environment.IsDevelopment() ? DevelopmentApiKeyHelp : ApiKeyHelp;
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(options =>
        {
            options.SwaggerDoc(DocumentName, new OpenApiInfo
            {
                Title = "AssistenteIa API",
                Version = "v1",
                Description = "Submit AI tasks, follow their status, attempts, costs and outputs. Authenticate with the X-Api-Key header.",
            });

            // Relative: the API is wherever the document was read from, so one document serves every environment.
            options.AddServer(new OpenApiServer { Url = "/", Description = "This API, at the address the document was read from." });
            options.AddSecurityDefinition(ApiKeyAuthenticationHandler.SchemeName, new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = ApiKeyAuthenticationHandler.HeaderName,
                Description = keyHelp,
            });
            options.AddSecurityRequirement(document => new OpenApiSecurityRequirement
            {
                [new OpenApiSecuritySchemeReference(ApiKeyAuthenticationHandler.SchemeName, document)] = [],
            });
            options.SupportNonNullableReferenceTypes();
            options.OperationFilter<HeadersOperationFilter>();
            options.ParameterFilter<DocumentedAsParameterFilter>();
            options.SchemaFilter<ExamplesSchemaFilter>();
            options.SchemaFilter<ResponseModelsSchemaFilter>();
            var xml = Path.Combine(AppContext.BaseDirectory, $"{typeof(SwaggerSetup).Assembly.GetName().Name}.xml");
            if (File.Exists(xml))
            {
                // The controllers' summaries describe their tags.
                options.IncludeXmlComments(xml, includeControllerXmlComments: true);
            }

            // The payload's fields, each saying which capability reads it.
            var applicationXml = Path.Combine(AppContext.BaseDirectory, $"{typeof(AssistenteIa.Application.Tasks.TaskPayload).Assembly.GetName().Name}.xml");
            if (File.Exists(applicationXml))
            {
                options.IncludeXmlComments(applicationXml);
            }

            options.OperationFilter<CapabilityExamplesOperationFilter>();
        });
        return services;
    }

    public static WebApplication UseSwaggerDocumentation(this WebApplication app)
    {
        app.UseSwagger(options => options.OpenApiVersion = OpenApiSpecVersion.OpenApi3_0);
        app.UseSwaggerUI(options =>
        {
            options.SwaggerEndpoint($"/swagger/{DocumentName}/swagger.json", "AssistenteIa API v1");
            options.RoutePrefix = "swagger";
        });
        return app;
    }
}
