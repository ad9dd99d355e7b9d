using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AssistenteIa.Infrastructure;

/// <summary>
/// Lists in configuration written as one value (<c>443,8443</c>: what one environment variable holds). The binder fills
/// a list only from indexed keys (<c>Section__List__0</c>) and leaves such a value out without a word, which for a list
/// that narrows something (a secret's tenants, the allowed ports) widens it to the default instead.
/// </summary>
public static class ConfigurationLists
{
    /// <summary>
    /// The list at <paramref name="key"/> of <paramref name="section"/> written as one value, split at commas; null when
    /// it is not written so (or is empty: an unset environment variable often arrives as one). Both forms at once are
    /// reported in <paramref name="errors"/>: which one was meant cannot be told.
    /// </summary>
    public static string[]? OneValue(IConfigurationSection section, string key, ICollection<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (section.GetSection(key).GetChildren().Any())
        {
            errors.Add($"{section.Path}:{key} is given both as a list and as one value; give one of them.");
            return null;
        }

        return value.Split(',', StringSplitOptions.TrimEntries);
    }

    /// <summary>
    /// <see cref="OneValue"/> for a list of ports: null when not written as one value; an item that is not a port from 1
    /// to 65535 is reported in <paramref name="errors"/> (and the list is null).
    /// </summary>
    public static int[]? Ports(IConfigurationSection section, string key, ICollection<string> errors)
    {
        if (OneValue(section, key, errors) is not { } items)
        {
            return null;
        }

        var ports = new int[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            if (!int.TryParse(items[i], NumberStyles.None, CultureInfo.InvariantCulture, out ports[i]) || ports[i] is < 1 or > 65535)
            {
                errors.Add($"{section.Path}:{key} '{string.Join(',', items)}' is not a list of ports from 1 to 65535 (e.g. 443,8443).");
                return null;
            }
        }

        return ports;
    }
}
