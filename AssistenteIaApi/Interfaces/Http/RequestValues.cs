using AssistenteIa.Application;

namespace AssistenteIaApi.Interfaces.Http;

/// <summary>Route and query values as the controllers read them: the same answers for the same mistakes everywhere.</summary>
public static class RequestValues
{
    /// <summary>A malformed id names nothing: 404, like an unknown one.</summary>
    public static Guid Id(string id, string what) =>
        Guid.TryParse(id, out var guid) ? guid : throw new NotFoundException($"{what} {id} was not found.");

    /// <summary>Null when absent; a 400 naming the field when it is not a whole number.</summary>
    public static int? WholeNumber(string? value, string name) =>
        string.IsNullOrEmpty(value) ? null
        : int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) ? number
        : throw RequestValidationException.For(name, $"{name} must be a whole number.");

    /// <summary>false when absent; a 400 naming the field unless <c>true</c> or <c>false</c>.</summary>
    public static bool Flag(string? value, string name) => value switch
    {
        null or "" or "false" => false,
        "true" => true,
        _ => throw RequestValidationException.For(name, $"{name} must be true or false."),
    };
}
