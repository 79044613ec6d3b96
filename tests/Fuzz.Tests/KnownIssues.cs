using System;
using System.Collections.Generic;
using System.Linq;

namespace PrecisionDsl.Fuzz.Tests;

/// <summary>
/// Generator bugs this fuzzer found that are not fixed yet (a punch list for the generator's owner). A case whose only
/// problems are errors in generated code that one entry describes is listed in the test output instead of
/// failing the test. Exceptions, AD0001/CS8785, time-outs and non-deterministic output are never excused.
/// Delete an entry once its bug is fixed: from then on the fuzzer holds the fix in place.
/// </summary>
internal static class KnownIssues
{
    // Empty: every bug the fuzzer found so far is fixed (docs/ARCHITECTURE.md "Never copy broken text").
    private static readonly Issue[] All = Array.Empty<Issue>();

    /// <summary>The known issue that explains every problem of the case, or null.</summary>
    public static string? Explain(Mutant mutant, CaseResult result)
    {
        if (result.Problems.Count == 0 || result.Problems.Any(p => p.Kind != ProblemKind.ErrorInGeneratedCode))
        {
            return null;
        }

        return All.FirstOrDefault(issue => issue.Applies(mutant, result)
            && (issue.ErrorIds is null || result.Problems.All(p => issue.ErrorIds.Contains(p.ErrorId!) || (issue.AlsoExcusesSyntaxErrors && p.IsSyntaxError))))?.Description;
    }

    /// <param name="ErrorIds">The errors in generated code the bug causes; null: any (the whole file is invalid).</param>
    /// <param name="AlsoExcusesSyntaxErrors">Any syntax error of the generated file is part of the bug too.</param>
    private sealed record Issue(string Description, Func<Mutant, CaseResult, bool> Applies, HashSet<string>? ErrorIds, bool AlsoExcusesSyntaxErrors = false);
}
