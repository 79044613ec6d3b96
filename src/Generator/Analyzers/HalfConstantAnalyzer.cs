using System;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Diagnostics;
using PrecisionDsl.Generator.Model;
using PrecisionDsl.Generator.Parsing;
using PrecisionDsl.Generator.Planning;

namespace PrecisionDsl.Generator.Analyzers;

/// <summary>
/// PDSL005: a numeric constant that reaches half-precision code and does not survive the cast — it
/// overflows (fp16 above 65504) or flushes to zero (fp16 below 5.96e-8). Only tensor <em>values</em> count:
/// an operand of a tensor operator (<c>x * 1e-9</c>) or an argument of a floating/<c>Scalar</c> parameter
/// (<c>masked_fill(mask, -1e9)</c>, <c>eps: 1e-8</c>), never sizes or dims. Whether the code is half comes
/// from the planner, the same one the generator emits from, so the same literal in fp32 code stays silent.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class HalfConstantAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(DiagnosticDescriptors.ConstantOutOfHalfRange);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var symbols = KnownSymbols.TryCreate(start.Compilation);
            if (symbols is null)
            {
                return;
            }

            // One plan per model, shared by every constant in it; null for classes that are no precision model.
            var plans = new ConcurrentDictionary<INamedTypeSymbol, ModelPlan?>(SymbolEqualityComparer.Default);
            start.RegisterOperationAction(c => AnalyzeArgument(c, symbols, plans), OperationKind.Argument);
            start.RegisterOperationAction(c => AnalyzeOperator(c, symbols, plans), OperationKind.Binary);
        });
    }

    private static void AnalyzeArgument(OperationAnalysisContext context, KnownSymbols symbols, ConcurrentDictionary<INamedTypeSymbol, ModelPlan?> plans)
    {
        var argument = (IArgumentOperation)context.Operation;
        if (argument.ArgumentKind == ArgumentKind.Explicit && IsTensorValueParameter(argument.Parameter?.Type, symbols))
        {
            Check(context, StripConversions(argument.Value), symbols, plans);
        }
    }

    private static void AnalyzeOperator(OperationAnalysisContext context, KnownSymbols symbols, ConcurrentDictionary<INamedTypeSymbol, ModelPlan?> plans)
    {
        var binary = (IBinaryOperation)context.Operation;
        var left = StripConversions(binary.LeftOperand);
        var right = StripConversions(binary.RightOperand);
        if (symbols.IsTensor(left.Type) && !symbols.IsTensor(right.Type))
        {
            Check(context, right, symbols, plans);
        }
        else if (symbols.IsTensor(right.Type) && !symbols.IsTensor(left.Type))
        {
            Check(context, left, symbols, plans);
        }
    }

    private static void Check(OperationAnalysisContext context, IOperation constant, KnownSymbols symbols, ConcurrentDictionary<INamedTypeSymbol, ModelPlan?> plans)
    {
        if (!TryGetNumber(constant, out var value) || !HalfFormat.Float16.CannotHold(value)
            || ContainingType(context.ContainingSymbol) is not { } type || constant.Syntax.SyntaxTree is not { } tree)
        {
            return;
        }

        try
        {
            var plan = plans.GetOrAdd(type, t => SymbolFacts.IsPrecisionModel(t) ? PrecisionAnalysis.Analyze(t, context.Compilation, context.CancellationToken) : null);
            var format = plan is null ? null : FormatAt(plan, tree.FilePath, constant.Syntax.Span);
            if (format is null || !format.CannotHold(value))
            {
                return;
            }

            var overflows = format.Overflows(value);
            var sign = value < 0 ? "-" : "";
            var suffix = constant.Type?.SpecialType == SpecialType.System_Single ? "f" : "";
            var safeValue = sign + (overflows ? format.SafeMaxText : format.SafeMinNormalText) + suffix;
            var properties = ImmutableDictionary<string, string?>.Empty.Add(DiagnosticProperties.SafeValue, safeValue);
            if (context.ContainingSymbol is IFieldSymbol or IPropertySymbol)
            {
                properties = properties.Add(DiagnosticProperties.LayerArgument, "true");
            }

            var why = overflows
                ? $"{format.Name} overflows above {HalfFormat.Display(format.MaxValue)}"
                : $"{format.Name} flushes magnitudes below {HalfFormat.Display(format.SmallestSubnormal)} to zero";
            var safeHint = overflows
                ? $"{safeValue} ({format.Name}'s largest finite magnitude)"
                : $"{safeValue} ({format.Name}'s smallest normal)";
            context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.ConstantOutOfHalfRange,
                constant.Syntax.GetLocation(),
                properties,
                Describe(constant, value),
                format.Name,
                HalfFormat.Display(format.Round(value)),
                why,
                safeHint));
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // Never throw into the host; without a plan there is nothing certain to report.
        }
    }

    /// <summary>The half format the constant is computed in (the planner's <see cref="ExpressionPrecision.ComputedIn"/>), or null for fp32 or unknown code.</summary>
    private static HalfFormat? FormatAt(ModelPlan plan, string filePath, TextSpan span) => plan.PrecisionAt(filePath, span)?.ComputedIn switch
    {
        StaticDtype.Fp16 => HalfFormat.Float16,
        StaticDtype.Bf16 => HalfFormat.BFloat16,
        _ => null,
    };

    /// <summary>Parameters whose argument becomes a tensor value: floating types and TorchSharp's <c>Scalar</c>.</summary>
    private static bool IsTensorValueParameter(ITypeSymbol? type, KnownSymbols symbols)
    {
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
        {
            type = nullable.TypeArguments[0];
        }

        return type is not null
            && (type.SpecialType is SpecialType.System_Double or SpecialType.System_Single
                || SymbolEqualityComparer.Default.Equals(type, symbols.Scalar));
    }

    private static IOperation StripConversions(IOperation operation)
    {
        while (operation is IConversionOperation conversion)
        {
            operation = conversion.Operand;
        }

        return operation;
    }

    private static bool TryGetNumber(IOperation operation, out double value)
    {
        value = 0;
        if (!operation.ConstantValue.HasValue)
        {
            return false;
        }

        switch (operation.ConstantValue.Value)
        {
            case double d:
                value = d;
                return true;
            case float f:
                value = f;
                return true;
            case int or long or short or sbyte or uint or ulong or ushort or byte or decimal:
                value = Convert.ToDouble(operation.ConstantValue.Value, CultureInfo.InvariantCulture);
                return true;
            default:
                return false;
        }
    }

    /// <summary>"-1e9" for a literal; "'MaskValue' (-1e9)" for a named constant.</summary>
    private static string Describe(IOperation constant, double value)
    {
        var syntax = constant.Syntax;
        var isLiteral = syntax is LiteralExpressionSyntax
            || (syntax is PrefixUnaryExpressionSyntax { Operand: LiteralExpressionSyntax } unary && unary.IsKind(SyntaxKind.UnaryMinusExpression));
        return isLiteral ? syntax.ToString() : $"'{syntax}' ({HalfFormat.Display(value)})";
    }

    private static INamedTypeSymbol? ContainingType(ISymbol? symbol) => symbol as INamedTypeSymbol ?? symbol?.ContainingType;
}
