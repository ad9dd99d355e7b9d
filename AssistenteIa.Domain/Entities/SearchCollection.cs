namespace AssistenteIa.Domain.Entities;

/// <summary>
/// A tenant's collection for one embedding model (table <c>SearchCollections</c>): how many documents and chunks it
/// has, and a version bumped by every write in the same transaction, so a search index checks that it is current
/// with a one-row read instead of counting chunks.
/// </summary>
public sealed class SearchCollection
{
    private SearchCollection()
    {
    }

    public string TenantId { get; private set; } = "";
    public string Name { get; private set; } = "";
    public string Model { get; private set; } = "";
    public int Documents { get; private set; }
    public int Chunks { get; private set; }
    public long Version { get; private set; }
    public DateTimeOffset UpdatedAt { get; private set; }
}
