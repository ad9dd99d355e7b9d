using Microsoft.ML.Tokenizers;

namespace AssistenteIa.Infrastructure.Ai;

/// <summary>Counts tokens with the o200k_base BPE (GPT-4o family); the vocabulary ships inside a NuGet package.</summary>
public sealed class TokenCounter
{
    private readonly Tokenizer _tokenizer = TiktokenTokenizer.CreateForEncoding("o200k_base");

    public int Count(string? text) => string.IsNullOrEmpty(text) ? 0 : _tokenizer.CountTokens(text);
}
