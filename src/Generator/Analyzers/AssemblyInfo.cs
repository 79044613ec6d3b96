using System.Runtime.CompilerServices;

// The analyzer tests check internal numerics (HalfFormat) against .NET's own System.Half.
[assembly: InternalsVisibleTo("PrecisionDsl.Analyzers.Tests")]
