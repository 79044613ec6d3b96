using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PrecisionDsl.Benchmarks.Anchors;

/// <summary>
/// The PyTorch anchors' output format: one JSON object per line (<c>{"anchor": ...}</c>), numbers rounded to 6
/// decimals, other lines free text. PrecisionDsl's lines carry <c>"source": "PrecisionDsl"</c>; lines without a
/// source are PyTorch's.
/// </summary>
public static class JsonLines
{
    public const string Source = "PrecisionDsl";

    public static void Emit(TextWriter output, string anchor, IEnumerable<KeyValuePair<string, object?>> fields)
    {
        var line = new JsonObject { ["anchor"] = anchor, ["source"] = Source };
        foreach (var (key, value) in fields) line[key] = ToNode(value);
        output.WriteLine(line.ToJsonString());
        output.Flush();
    }

    /// <summary>The JSON objects of <paramref name="lines"/>; other lines (tables, logs) are skipped.</summary>
    public static IEnumerable<JsonObject> Read(IEnumerable<string> lines)
    {
        foreach (string line in lines)
        {
            if (!line.TrimStart().StartsWith('{')) continue;
            JsonObject? parsed;
            try
            {
                parsed = JsonNode.Parse(line) as JsonObject;
            }
            catch (JsonException)
            {
                continue;
            }
            if (parsed?["anchor"] is not null) yield return parsed;
        }
    }

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        double number when double.IsFinite(number) => JsonValue.Create(Math.Round(number, 6)),
        double number => JsonValue.Create(number.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        int number => JsonValue.Create(number),
        long number => JsonValue.Create(number),
        bool flag => JsonValue.Create(flag),
        string text => JsonValue.Create(text),
        _ => JsonValue.Create(value.ToString()),
    };
}
