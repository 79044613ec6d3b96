using System;
using System.IO;

namespace PrecisionDsl.Analyzers.Tests.Infrastructure;

internal static class Repository
{
    /// <summary>The checkout's root: the first directory above the test binaries holding PrecisionDsl.sln.</summary>
    public static string Root()
    {
        for (var current = new DirectoryInfo(AppContext.BaseDirectory); current is not null; current = current.Parent)
        {
            if (File.Exists(Path.Combine(current.FullName, "PrecisionDsl.sln")))
            {
                return current.FullName;
            }
        }

        throw new InvalidOperationException("PrecisionDsl.sln not found above " + AppContext.BaseDirectory);
    }
}
