using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Infrastructure;

namespace AssistenteIaApi.Errors;

/// <summary>Model-binding failures (malformed JSON, unknown enum, missing field) as a 400 problem+json.</summary>
public static class ValidationProblems
{
    public static IActionResult FromModelState(ActionContext context)
    {
        var factory = context.HttpContext.RequestServices.GetRequiredService<ProblemDetailsFactory>();
        var problem = factory.CreateValidationProblemDetails(
            context.HttpContext,
            context.ModelState,
            StatusCodes.Status400BadRequest,
            detail: "The request is not valid; see errors for each field.");
        return new ObjectResult(problem) { StatusCode = StatusCodes.Status400BadRequest, ContentTypes = { "application/problem+json" } };
    }
}
