using AssistenteIa.Domain.ValueObjects;

namespace AssistenteIa.Application.Tasks.Capabilities;

/// <summary>Embedding_Search: either a search (collection, query, topK) or a document to add to a collection.</summary>
public sealed class EmbeddingSearchContract : ICapabilityContract
{
    public const int MaxQueryLength = 2000;
    public const int MaxTopK = 50;
    public const int MaxDocumentChars = 200_000;

    public CapabilityType Capability => CapabilityType.Embedding_Search;

    public void Validate(TaskPayload payload, IDictionary<string, string[]> errors)
    {
        switch (payload)
        {
            case { Search: { } search, Document: null }:
                if (!Contract.IsName(search.Collection))
                {
                    Contract.Add(errors, "payload.search.collection", "collection is a name of letters, digits, '-', '_' and '.', up to 100 characters.");
                }

                if (string.IsNullOrWhiteSpace(search.Query) || search.Query.Length > MaxQueryLength)
                {
                    Contract.Add(errors, "payload.search.query", $"query is 1 to {MaxQueryLength} characters.");
                }

                if (search.TopK is < 1 or > MaxTopK)
                {
                    Contract.Add(errors, "payload.search.topK", $"topK is 1 to {MaxTopK}.");
                }

                break;
            case { Document: { } document, Search: null }:
                if (!Contract.IsName(document.Collection))
                {
                    Contract.Add(errors, "payload.document.collection", "collection is a name of letters, digits, '-', '_' and '.', up to 100 characters.");
                }

                if (string.IsNullOrWhiteSpace(document.Text) || document.Text.Length > MaxDocumentChars)
                {
                    Contract.Add(errors, "payload.document.text", $"text is 1 to {MaxDocumentChars} characters.");
                }

                break;
            default:
                Contract.Add(errors, "payload.search", "Embedding_Search takes either search: { collection, query, topK } or document: { collection, text, metadata }.");
                break;
        }
    }
}
