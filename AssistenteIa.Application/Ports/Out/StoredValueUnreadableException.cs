namespace AssistenteIa.Application.Ports.Out;

/// <summary>
/// A stored row holds a value this build cannot read: a name of <see cref="ValueType"/> it does not know, written by a
/// later version (before a rollback) or by hand. Reading that row fails the same way every time, unlike a failure of
/// the database itself.
/// </summary>
public sealed class StoredValueUnreadableException(Type valueType, string stored)
    : Exception($"The stored value '{stored}' is not a {valueType.Name} this version knows.")
{
    public Type ValueType { get; } = valueType;

    public string Stored { get; } = stored;
}
