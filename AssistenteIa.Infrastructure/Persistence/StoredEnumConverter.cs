using System.Collections.Frozen;
using AssistenteIa.Application.Ports.Out;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace AssistenteIa.Infrastructure.Persistence;

/// <summary>
/// An enum stored by its name. A name this build does not know fails the read with
/// <see cref="StoredValueUnreadableException"/>, which says the row cannot be read (not that the database failed), so
/// a consumer can stop retrying it. Writes and query parameters are the name, as with EF's own string conversion; EF
/// translates <c>ToString()</c> of an enum inside a query only for its own converter, so write such a comparison
/// against the enum value instead.
/// </summary>
public sealed class StoredEnumConverter<TEnum>() : ValueConverter<TEnum, string>(value => value.ToString(), stored => StoredEnums.Parse<TEnum>(stored))
    where TEnum : struct, Enum;

public static class StoredEnums
{
    /// <summary>The member named <paramref name="stored"/> exactly; any other text throws <see cref="StoredValueUnreadableException"/>.</summary>
    public static TEnum Parse<TEnum>(string stored)
        where TEnum : struct, Enum =>
        ByName<TEnum>.Members.TryGetValue(stored, out var value) ? value : throw new StoredValueUnreadableException(typeof(TEnum), stored);

    /// <summary>The member named <paramref name="stored"/> exactly, if this build has one.</summary>
    public static bool TryParse<TEnum>(string stored, out TEnum value)
        where TEnum : struct, Enum => ByName<TEnum>.Members.TryGetValue(stored, out value);

    /// <summary>Every name <see cref="Parse{TEnum}"/> reads: a row whose column holds another cannot be read by this build.</summary>
    public static string[] Names<TEnum>()
        where TEnum : struct, Enum => [.. ByName<TEnum>.Members.Keys];

    private static class ByName<TEnum>
        where TEnum : struct, Enum
    {
        public static readonly FrozenDictionary<string, TEnum> Members = Enum.GetValues<TEnum>().ToFrozenDictionary(value => value.ToString(), StringComparer.Ordinal);

    }
}
