using System.Text.Json;
using System.Text.Json.Serialization;

namespace AssistenteIa.Application;

/// <summary>
/// Enums travel as their exact names (the user's spelling, e.g. <c>LLM_Generation</c>): another casing or a
/// number is refused with a message that lists the accepted names.
/// </summary>
public sealed class StrictEnumConverter : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsEnum;

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert))!;

    private sealed class Converter<TEnum> : JsonConverter<TEnum>
        where TEnum : struct, Enum
    {
        private static readonly string[] Names = Enum.GetNames<TEnum>();

        public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.String)
            {
                var value = reader.GetString()!;
                if (Names.Contains(value, StringComparer.Ordinal))
                {
                    return Enum.Parse<TEnum>(value);
                }

                throw new JsonException($"'{value}' is not a valid {typeof(TEnum).Name}; use one of: {string.Join(", ", Names)}.");
            }

            throw new JsonException($"A {typeof(TEnum).Name} is a string, one of: {string.Join(", ", Names)}.");
        }

        public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString());
    }
}
