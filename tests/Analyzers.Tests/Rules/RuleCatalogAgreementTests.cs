using System;
using System.IO;
using System.Linq;
using PrecisionDsl.Analyzers.Tests.Infrastructure;
using PrecisionDsl.Generator.Policy;
using Xunit;

namespace PrecisionDsl.Analyzers.Tests.Rules;

/// <summary>
/// RuleCatalog is the one place of each rule's id, category and severity; the release-tracking file and the
/// documentation repeat them for their readers, so they are checked against it.
/// </summary>
public class RuleCatalogAgreementTests
{
    public static TheoryData<string> RuleIds => new(RuleCatalog.All.Select(rule => rule.Id));

    [Theory]
    [MemberData(nameof(RuleIds))]
    public void Release_tracking_and_docs_state_the_catalogs_category_and_severity(string id)
    {
        var rule = RuleCatalog.Find(id)!;
        var root = Repository.Root();
        var severity = rule.Severity.ToString();

        var releases = File.ReadAllLines(Path.Combine(root, "src", "Generator", "AnalyzerReleases.Unshipped.md"));
        Assert.Single(releases, line => line.StartsWith($"{id} | {rule.Category} | {severity} |", StringComparison.Ordinal));
        var index = File.ReadAllLines(Path.Combine(root, "docs", "diagnostics", "README.md"));
        Assert.Single(index, line => line.StartsWith($"| [{id}]({id}.md) | {severity.ToLowerInvariant()} |", StringComparison.Ordinal));
        var page = File.ReadAllLines(Path.Combine(root, "docs", "diagnostics", id + ".md"));
        Assert.StartsWith($"**Severity:** {severity.ToLowerInvariant()} ·", page.First(line => line.StartsWith("**Severity:**", StringComparison.Ordinal)));
    }
}
