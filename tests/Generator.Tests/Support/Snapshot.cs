using System;
using System.IO;
using System.Text;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;
using Xunit.Sdk;

namespace PrecisionDsl.Generator.Tests.Support;

/// <summary>
/// Compares generated text with a committed <c>*.verified.txt</c>; a mismatch fails with a line diff.
/// <c>PDSL_ACCEPT_SNAPSHOTS=1</c> rewrites the snapshot instead (review the change like code).
/// </summary>
internal static class Snapshot
{
    public static void Verify(string name, string actual)
    {
        var path = Path.Combine(GeneratorHarness.SnapshotDirectory, name + ".verified.txt");
        actual = actual.Replace("\r\n", "\n");
        if (Environment.GetEnvironmentVariable("PDSL_ACCEPT_SNAPSHOTS") == "1")
        {
            Directory.CreateDirectory(GeneratorHarness.SnapshotDirectory);
            File.WriteAllText(path, actual);
            return;
        }

        if (!File.Exists(path))
        {
            throw new XunitException($"No snapshot {path}. Run with PDSL_ACCEPT_SNAPSHOTS=1 to create it, then review it.\n\n{actual}");
        }

        var expected = File.ReadAllText(path).Replace("\r\n", "\n");
        if (expected != actual)
        {
            throw new XunitException($"Generated source differs from {path} (- snapshot, + generated; PDSL_ACCEPT_SNAPSHOTS=1 accepts):\n{Diff(expected, actual)}");
        }
    }

    private static string Diff(string expected, string actual)
    {
        var diff = InlineDiffBuilder.Diff(expected, actual, ignoreWhiteSpace: false);
        var text = new StringBuilder();
        foreach (var line in diff.Lines)
        {
            var prefix = line.Type switch
            {
                ChangeType.Inserted => "+ ",
                ChangeType.Deleted => "- ",
                _ => "  ",
            };
            if (line.Type != ChangeType.Unchanged || line.Position is null)
            {
                text.Append(prefix).Append(line.Position is { } number ? number + ": " : "").AppendLine(line.Text);
            }
        }

        return text.ToString();
    }
}
