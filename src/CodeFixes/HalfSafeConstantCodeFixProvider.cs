using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PrecisionDsl.Generator.Diagnostics;
using PrecisionDsl.Generator.Policy;

namespace PrecisionDsl.CodeFixes;

/// <summary>
/// PDSL005: replaces the constant with the nearest value the half format holds (computed by the analyzer),
/// or — for a value argument of a half layer — keeps that layer in fp32.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(HalfSafeConstantCodeFixProvider)), Shared]
public sealed class HalfSafeConstantCodeFixProvider : CodeFixProvider
{
    /// <summary>Equivalence key of the "use the half-safe value" fix.</summary>
    public const string SafeValueKey = RuleIds.HalfConstant + ".SafeValue";

    /// <summary>Equivalence key of the "keep the layer in fp32" fix.</summary>
    public const string KeepFp32Key = RuleIds.HalfConstant + ".KeepFp32";

    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(RuleIds.HalfConstant);

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        foreach (var diagnostic in context.Diagnostics)
        {
            if (root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is not ExpressionSyntax constant)
            {
                continue;
            }

            if (diagnostic.Properties.TryGetValue(DiagnosticProperties.SafeValue, out var safeValue) && safeValue is not null)
            {
                context.RegisterCodeFix(
                    CodeAction.Create("Use " + safeValue, token => DocumentEdits.ReplaceNodeAsync(
                        context.Document, constant, SyntaxFactory.ParseExpression(safeValue).WithTriviaFrom(constant), token), equivalenceKey: SafeValueKey),
                    diagnostic);
            }

            var declaration = PrecisionAttributeSyntax.OwningDeclaration(constant);
            if (diagnostic.Properties.ContainsKey(DiagnosticProperties.LayerArgument)
                && declaration is FieldDeclarationSyntax or PropertyDeclarationSyntax)
            {
                context.RegisterCodeFix(
                    CodeAction.Create("Keep the layer in fp32 with [KeepFp32]", token => KeepLayerInFp32Async(context.Document, declaration!, token), equivalenceKey: KeepFp32Key),
                    diagnostic);
            }
        }
    }

    // The member's own [Fp16]/[Bf16] becomes [KeepFp32]; a layer that is half through the class default gets [KeepFp32] added.
    private static async Task<Document> KeepLayerInFp32Async(Document document, MemberDeclarationSyntax declaration, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return document;
        }

        var halfAttributes = PrecisionAttributeSyntax.Find(declaration, model)
            .Where(a => a.MetadataName != PrecisionAttributeSyntax.KeepFp32)
            .Select(a => a.Attribute)
            .ToList();
        if (halfAttributes.Count == 0)
        {
            return document.WithSyntaxRoot(root.ReplaceNode(declaration, PrecisionAttributeSyntax.AddKeepFp32(declaration)));
        }

        var tracked = declaration.TrackNodes(halfAttributes);
        var first = tracked.GetCurrentNode(halfAttributes[0])!;
        tracked = tracked.ReplaceNode(first, PrecisionAttributeSyntax.ToKeepFp32(first));
        var rest = halfAttributes.Skip(1).Select(a => tracked.GetCurrentNode(a)!).ToList();
        var updated = PrecisionAttributeSyntax.RemoveAttributes(tracked, rest);
        return document.WithSyntaxRoot(root.ReplaceNode(declaration, updated));
    }
}
