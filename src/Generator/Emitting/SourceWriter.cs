using System.Text;

namespace PrecisionDsl.Generator.Emitting;

/// <summary>An indenting text writer over a <see cref="StringBuilder"/> (four spaces, '\n' line ends).</summary>
internal sealed class SourceWriter
{
    private const string IndentUnit = "    ";
    private readonly StringBuilder builder = new();
    private int indentation;

    public void WriteLine(string line = "")
    {
        if (line.Length > 0)
        {
            for (var i = 0; i < indentation; i++)
            {
                builder.Append(IndentUnit);
            }

            builder.Append(line);
        }

        builder.Append('\n');
    }

    /// <summary>Writes a multi-line block of text, each line at the current indentation.</summary>
    public void WriteLines(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            WriteLine(line.TrimEnd('\r', ' ', '\t'));
        }
    }

    public void OpenBlock(string header)
    {
        WriteLine(header);
        WriteLine("{");
        indentation++;
    }

    public void CloseBlock(string suffix = "")
    {
        indentation--;
        WriteLine("}" + suffix);
    }

    public override string ToString() => builder.ToString();
}
