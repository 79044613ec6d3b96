using System;

namespace TinyGpt;

/// <summary>Character-level tokenizer over the twelve symbols addition text uses.</summary>
public static class CharTokenizer
{
    public const string Alphabet = "0123456789+=";

    public static int VocabularySize => Alphabet.Length;

    public static long Encode(char symbol)
    {
        int id = Alphabet.IndexOf(symbol);
        if (id < 0) throw new ArgumentException($"'{symbol}' is not in the alphabet \"{Alphabet}\".", nameof(symbol));
        return id;
    }

    public static char Decode(long id) => Alphabet[(int)id];

    /// <summary>Writes the ids of <paramref name="text"/> into <paramref name="destination"/>.</summary>
    public static void Encode(string text, Span<long> destination)
    {
        for (int i = 0; i < text.Length; i++) destination[i] = Encode(text[i]);
    }
}
