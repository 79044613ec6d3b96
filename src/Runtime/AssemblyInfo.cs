using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("PrecisionDsl.Runtime.Tests")]
