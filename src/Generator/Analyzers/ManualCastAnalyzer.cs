using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Diagnostics;

namespace PrecisionDsl.Generator.Analyzers
{
    /// <summary>
    /// PDSL011: a hand-written cast to half precision (<c>.half()</c>, <c>.bfloat16()</c>,
    /// <c>.to(float16)</c>, <c>.to_type(...)</c>, <c>.type(...)</c>) inside a <c>[Forward]</c> method. The generator
    /// inserts every cast from the attributes; a manual one runs the rest of the expression in a dtype the
    /// precision plan does not show. Casts to fp32 stay silent: they only keep work in full precision.
    /// </summary>
    [DiagnosticAnalyzer(Microsoft.CodeAnalysis.LanguageNames.CSharp)]
    public sealed class ManualCastAnalyzer : DiagnosticAnalyzer
    {
        /// <inheritdoc/>
        public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
            ImmutableArray.Create(DiagnosticDescriptors.ManualCast);

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

                start.RegisterOperationAction(operationContext => AnalyzeInvocation(operationContext, symbols), OperationKind.Invocation);
            });
        }

        private static void AnalyzeInvocation(OperationAnalysisContext context, KnownSymbols symbols)
        {
            var invocation = (IInvocationOperation)context.Operation;
            var method = invocation.TargetMethod;
            if (invocation.Instance is null || !symbols.IsTensor(method.ContainingType)
                || context.ContainingSymbol is not IMethodSymbol containing || !symbols.HasAttribute(containing, symbols.ForwardAttribute))
            {
                return;
            }

            var target = HalfCastTarget(invocation, symbols);
            if (target is null || invocation.Syntax is not InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax memberAccess } syntax)
            {
                return;
            }

            // From the method name to the closing parenthesis: `x.{|half()|}`.
            var span = TextSpan.FromBounds(memberAccess.Name.SpanStart, syntax.Span.End);
            var properties = OnlyDtypeArgument(invocation)
                ? ImmutableDictionary<string, string?>.Empty.Add(DiagnosticProperties.Removable, "true")
                : ImmutableDictionary<string, string?>.Empty;
            context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.ManualCast,
                Location.Create(syntax.SyntaxTree, span),
                properties,
                syntax.ToString(),
                target));
        }

        /// <summary>The half dtype the call casts to ("float16" or "bfloat16"), or null when it is no half cast.</summary>
        private static string? HalfCastTarget(IInvocationOperation invocation, KnownSymbols symbols)
        {
            switch (invocation.TargetMethod.Name)
            {
                case "half":
                    return invocation.Arguments.Length == 0 ? "float16" : null;
                case "bfloat16":
                    return invocation.Arguments.Length == 0 ? "bfloat16" : null;
                case "to":
                case "to_type":
                case "type":
                    foreach (var argument in invocation.Arguments)
                    {
                        if (SymbolEqualityComparer.Default.Equals(argument.Parameter?.Type, symbols.ScalarType))
                        {
                            return HalfDtypeName(argument.Value, symbols);
                        }
                    }

                    return null;
                default:
                    return null;
            }
        }

        /// <summary>Reads <c>ScalarType.Float16</c>, <c>torch.float16</c>, <c>torch.half</c> and <c>torch.bfloat16</c>.</summary>
        private static string? HalfDtypeName(IOperation value, KnownSymbols symbols)
        {
            while (value is IConversionOperation conversion)
            {
                value = conversion.Operand;
            }

            if (value is IFieldReferenceOperation { Field: { IsStatic: true } field }
                && (SymbolEqualityComparer.Default.Equals(field.ContainingType, symbols.ScalarType)
                    || SymbolEqualityComparer.Default.Equals(field.ContainingType, symbols.Tensor.ContainingType)))
            {
                return field.Name switch
                {
                    "float16" or "half" or "Float16" => "float16",
                    "bfloat16" or "BFloat16" => "bfloat16",
                    _ => null,
                };
            }

            // A cast number, e.g. (ScalarType)5; ScalarType follows c10::ScalarType (Half = 5, BFloat16 = 15).
            if (value.ConstantValue.HasValue && value.ConstantValue.Value is sbyte code)
            {
                return code switch
                {
                    5 => "float16",
                    15 => "bfloat16",
                    _ => null,
                };
            }

            return null;
        }

        /// <summary>True when the call passes nothing but the dtype, so dropping it changes nothing else (device, copy).</summary>
        private static bool OnlyDtypeArgument(IInvocationOperation invocation)
        {
            foreach (var argument in invocation.Arguments)
            {
                if (argument.ArgumentKind == ArgumentKind.Explicit && argument.Parameter?.Type.TypeKind != TypeKind.Enum)
                {
                    return false;
                }
            }

            return true;
        }
    }
}
