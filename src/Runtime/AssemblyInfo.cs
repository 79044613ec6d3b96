using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("PrecisionDsl.Runtime.Tests")]
[assembly: InternalsVisibleTo("PrecisionDsl.Generator.Tests")]
