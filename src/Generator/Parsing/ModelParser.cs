using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using PrecisionDsl.Generator.Model;

namespace PrecisionDsl.Generator.Parsing;

/// <summary>
/// Turns a class symbol (and the syntax of its members) into a <see cref="ModelSpec"/>. Total: every
/// input, however broken, yields a model or null — never an exception. Judging the model is the
/// planner's job; the parser only records facts.
/// </summary>
internal static class ModelParser
{
    public static ModelSpec? Parse(INamedTypeSymbol type, Compilation compilation, CancellationToken cancellationToken)
    {
        if (type.TypeKind != TypeKind.Class || type.Locations.FirstOrDefault(l => l.IsInSource) is not { } location)
        {
            return null;
        }

        var declarations = type.DeclaringSyntaxReferences
            .Select(r => r.GetSyntax(cancellationToken))
            .OfType<TypeDeclarationSyntax>()
            .Where(d => !d.SyntaxTree.FilePath.EndsWith(SymbolFacts.GeneratedFileSuffix, System.StringComparison.Ordinal))
            .ToArray();
        var moduleBase = SymbolFacts.FindGenericModuleBase(type);
        var moduleTypeArguments = moduleBase is null
            ? EquatableArray<string>.Empty
            : moduleBase.TypeArguments.Select(t => t.ToDisplayString(SymbolFacts.FullyQualified)).ToEquatableArray();

        var fields = new List<(ISymbol Member, ITypeSymbol Type, bool IsStatic)>();
        var forwardMethods = new List<(IMethodSymbol Method, AttributeData Attribute)>();
        var lossMethods = new List<LossMethodSpec>();
        var declaresForward = false;
        var takenNames = new SortedSet<string>(System.StringComparer.Ordinal);
        foreach (var member in type.GetMembers())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (member.IsImplicitlyDeclared || SymbolFacts.IsGenerated(member))
            {
                continue;
            }

            if (System.Array.IndexOf(TypeNames.GeneratedPublicMembers, member.Name) >= 0)
            {
                takenNames.Add(member.Name);
            }

            switch (member)
            {
                case IMethodSymbol { Name: TypeNames.ModuleForward, MethodKind: MethodKind.Ordinary }:
                    declaresForward = true;
                    break;
                case IMethodSymbol method:
                    foreach (var attribute in method.GetAttributes())
                    {
                        if (SymbolFacts.IsAttribute(attribute, TypeNames.ForwardAttribute))
                        {
                            forwardMethods.Add((method, attribute));
                        }
                        else if (SymbolFacts.IsAttribute(attribute, TypeNames.LossScaledAttribute))
                        {
                            lossMethods.Add(ParseLoss(method, attribute, moduleBase, cancellationToken));
                        }
                    }

                    break;
                // Error recovery in a broken declaration yields members without a name: nothing can refer to them.
                case IFieldSymbol field when SyntaxFacts.IsValidIdentifier(field.Name):
                    fields.Add((field, field.Type, field.IsStatic));
                    break;
                case IPropertySymbol property when SyntaxFacts.IsValidIdentifier(property.Name):
                    fields.Add((property, property.Type, property.IsStatic));
                    break;
            }
        }

        // The declared type says nothing of the layer behind a Module<...> member or inside a container: the values written to them do.
        var writes = MemberWrites.Collect(
            type,
            fields.Where(f => !f.IsStatic && (SymbolFacts.IsModuleBase(f.Type) || SymbolFacts.IsContainer(f.Type))).Select(f => f.Member).ToArray(),
            compilation,
            cancellationToken);
        var members = new List<MemberSpec>();
        foreach (var (member, memberType, isStatic) in fields)
        {
            AddMember(members, member, memberType, isStatic, writes.TryGetValue(member, out var written) ? written : null, compilation, cancellationToken);
        }

        var containingTypes = ContainingTypes(type, cancellationToken);
        var forwardSpecs = forwardMethods
            .Select((f, index) => ParseForward(f.Method, f.Attribute, moduleBase, members, parseBody: index == 0 && forwardMethods.Count == 1, compilation, cancellationToken))
            .ToEquatableArray();

        return new ModelSpec(
            Name: type.Name,
            FullName: type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
            Namespace: type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() : null,
            TypeParameters: type.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", type.TypeParameters.Select(p => p.Name)) + ">",
            ContainingTypes: containingTypes,
            Location: LocationInfo.From(location)!,
            IsPartial: declarations.Length > 0 && declarations.All(d => d.Modifiers.Any(SyntaxKind.PartialKeyword)),
            ContainingTypesArePartial: containingTypes.All(c => c.IsPartial),
            IsPlainClass: !type.IsStatic && !type.IsRecord
                && declarations.All(d => d is ClassDeclarationSyntax && !d.Modifiers.Any(SyntaxKind.StaticKeyword)),
            IsAbstract: type.IsAbstract,
            IsWellFormed: declarations.All(d => DeclarationParses(d, cancellationToken))
                && (moduleBase is null || !moduleBase.TypeArguments.Any(SymbolFacts.ContainsErrorType)),
            DerivesFromModule: moduleBase is not null,
            ModuleTypeArguments: moduleTypeArguments,
            ResultShape: ShapeOf(moduleBase?.TypeArguments.LastOrDefault()),
            DeclaresForward: declaresForward,
            DerivesFromPrecisionModel: BaseTypes(type).Any(SymbolFacts.IsPrecisionModel),
            TakenMemberNames: takenNames.ToEquatableArray(),
            ClassAttributes: PrecisionAttributes(type, cancellationToken),
            Members: members.ToEquatableArray(),
            ForwardMethods: forwardSpecs,
            LossMethods: lossMethods.ToEquatableArray());
    }

    /// <summary>
    /// Whether the header of <paramref name="declaration"/> (modifiers to opening brace, or all of a body-less
    /// declaration), its braces, and the headers of the types and namespaces around it are free of syntax
    /// errors: the generated partial repeats their names and keywords.
    /// </summary>
    private static bool DeclarationParses(TypeDeclarationSyntax declaration, CancellationToken cancellationToken)
    {
        var errors = declaration.SyntaxTree.GetDiagnostics(cancellationToken)
            .Where(d => d.Severity == DiagnosticSeverity.Error)
            .Select(d => d.Location.SourceSpan)
            .ToArray();
        if (errors.Length == 0)
        {
            return true;
        }

        bool Clean(TextSpan span) => !errors.Any(e => e.OverlapsWith(span) || (e.IsEmpty && span.Contains(e.Start)));
        foreach (var node in declaration.AncestorsAndSelf())
        {
            if (node is BaseTypeDeclarationSyntax typeDeclaration && (typeDeclaration.OpenBraceToken.IsMissing || typeDeclaration.CloseBraceToken.IsMissing))
            {
                return false;
            }

            var header = node switch
            {
                BaseTypeDeclarationSyntax type => TextSpan.FromBounds(
                    type.AttributeLists.Count > 0 ? type.AttributeLists.Last().FullSpan.End : type.SpanStart,
                    type.OpenBraceToken.IsKind(SyntaxKind.None) ? type.Span.End : type.OpenBraceToken.FullSpan.End),
                NamespaceDeclarationSyntax ns => TextSpan.FromBounds(ns.NamespaceKeyword.SpanStart, ns.OpenBraceToken.FullSpan.End),
                FileScopedNamespaceDeclarationSyntax ns => TextSpan.FromBounds(ns.NamespaceKeyword.SpanStart, ns.SemicolonToken.FullSpan.End),
                _ => (TextSpan?)null,
            };
            if (header is { } span && !Clean(span))
            {
                return false;
            }
        }

        return true;
    }

    private static IEnumerable<INamedTypeSymbol> BaseTypes(INamedTypeSymbol type)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            yield return current;
        }
    }

    private static ResultShape ShapeOf(ITypeSymbol? result)
    {
        if (result is null || result.NullableAnnotation == NullableAnnotation.Annotated)
        {
            return ResultShape.Other;
        }

        if (SymbolFacts.IsTensor(result))
        {
            return new ResultShape(true, EquatableArray<bool>.Empty);
        }

        if (result is INamedTypeSymbol { IsTupleType: true } tuple && tuple.TupleElements.Length <= 7
            && tuple.TupleElements.Any(e => SymbolFacts.IsTensor(e.Type) && e.Type.NullableAnnotation != NullableAnnotation.Annotated))
        {
            return new ResultShape(false, tuple.TupleElements.Select(e => SymbolFacts.IsTensor(e.Type) && e.Type.NullableAnnotation != NullableAnnotation.Annotated).ToEquatableArray());
        }

        return ResultShape.Other;
    }

    private static EquatableArray<ContainingTypeSpec> ContainingTypes(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        var result = new List<ContainingTypeSpec>();
        for (var outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            var syntax = outer.DeclaringSyntaxReferences
                .Select(r => r.GetSyntax(cancellationToken))
                .OfType<TypeDeclarationSyntax>()
                .ToArray();
            var keyword = syntax.FirstOrDefault() switch
            {
                RecordDeclarationSyntax record => record.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) ? "record struct" : "record",
                StructDeclarationSyntax => "struct",
                InterfaceDeclarationSyntax => "interface",
                _ => "class",
            };
            var name = outer.Name + (outer.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", outer.TypeParameters.Select(p => p.Name)) + ">");
            result.Insert(0, new ContainingTypeSpec(keyword, name, syntax.Length > 0 && syntax.All(s => s.Modifiers.Any(SyntaxKind.PartialKeyword))));
        }

        return result.ToEquatableArray();
    }

    private static EquatableArray<PrecisionAttributeUse> PrecisionAttributes(ISymbol symbol, CancellationToken cancellationToken)
    {
        var uses = new List<PrecisionAttributeUse>();
        foreach (var attribute in symbol.GetAttributes())
        {
            PrecisionKind? kind =
                SymbolFacts.IsAttribute(attribute, TypeNames.Fp16Attribute) ? PrecisionKind.Fp16
                : SymbolFacts.IsAttribute(attribute, TypeNames.Bf16Attribute) ? PrecisionKind.Bf16
                : SymbolFacts.IsAttribute(attribute, TypeNames.KeepFp32Attribute) ? PrecisionKind.Fp32
                : null;
            var syntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken);
            if (kind is { } k && LocationInfo.From(syntax) is { } location)
            {
                uses.Add(new PrecisionAttributeUse(k, k == PrecisionKind.Fp32 ? "KeepFp32" : k.ToString(), location));
            }
        }

        return uses.ToEquatableArray();
    }

    private static void AddMember(List<MemberSpec> members, ISymbol member, ITypeSymbol declared, bool isStatic, MemberWrites? writes, Compilation compilation, CancellationToken cancellationToken)
    {
        var attributes = PrecisionAttributes(member, cancellationToken);
        var isModule = SymbolFacts.IsModule(declared);
        if ((!isModule && attributes.Count == 0) || member.Locations.FirstOrDefault(l => l.IsInSource) is not { } location)
        {
            return;
        }

        // A Module<...> member is planned as the one layer type every value written to it has.
        var (type, unresolved) = writes is not null && SymbolFacts.IsModuleBase(declared)
            ? LayerSources.ConcreteType(writes, cancellationToken)
            : (declared, null);
        type ??= declared;
        var declaration = member.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken);
        var elementType = type is INamedTypeSymbol { IsGenericType: true } named
            && SymbolFacts.IsElementContainer(named)
            ? SymbolFacts.MetadataName(named.TypeArguments[0])
            : "";
        var isPrecisionModel = isModule && type is INamedTypeSymbol candidate && SymbolFacts.IsPrecisionModel(candidate);
        members.Add(new MemberSpec(
            Name: member.Name,
            TypeDisplay: declared.ToDisplayString(SymbolFacts.FullyQualified),
            LayerType: isModule ? SymbolFacts.MetadataName(type) : "",
            ElementLayerType: elementType,
            IsModule: isModule,
            IsPrecisionModel: isPrecisionModel,
            IsStatic: isStatic,
            Attributes: attributes,
            Location: LocationInfo.From(location)!,
            Declaration: LocationInfo.From(declaration) ?? LocationInfo.From(location)!,
            IsComputed: declaration is PropertyDeclarationSyntax property
                && (property.ExpressionBody is not null || property.AccessorList?.Accessors.Any(a => a.Body is not null || a.ExpressionBody is not null) == true),
            Unresolved: isStatic ? null : unresolved,
            IsUserModule: isModule && !isPrecisionModel && unresolved is null && !SymbolFacts.IsInTorchSharp(type),
            Contents: writes is not null && SymbolFacts.IsContainer(type) ? LayerSources.Contents(writes, compilation, cancellationToken) : null));
    }

    private static ForwardMethodSpec ParseForward(
        IMethodSymbol method,
        AttributeData attribute,
        INamedTypeSymbol? moduleBase,
        List<MemberSpec> members,
        bool parseBody,
        Compilation compilation,
        CancellationToken cancellationToken)
    {
        var castResult = true;
        foreach (var named in attribute.NamedArguments)
        {
            if (named.Key == TypeNames.CastResultToFp32 && named.Value.Value is bool value)
            {
                castResult = value;
            }
        }

        var declaration = method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) as MethodDeclarationSyntax;
        // The generated forward takes the parameter names from this signature: a broken one is not copied.
        var problem = declaration is not null && (declaration.ParameterList.ContainsDiagnostics || declaration.ReturnType.ContainsDiagnostics)
            || method.Parameters.Any(p => p.Name.Length == 0)
            ? "its parameter list or return type has syntax errors"
            : SignatureProblem(method, moduleBase);
        ForwardBody? body = null;
        if (parseBody && problem is null
            && declaration is { } syntax
            && compilation.ContainsSyntaxTree(syntax.SyntaxTree))
        {
            var semanticModel = compilation.GetSemanticModel(syntax.SyntaxTree);
            body = ForwardBodyParser.Parse(syntax, semanticModel, method.ContainingType, members, cancellationToken);
        }

        var location = method.Locations.FirstOrDefault(l => l.IsInSource);
        return new ForwardMethodSpec(
            method.Name,
            LocationInfo.From(location)!,
            method.Parameters.Select(p => p.Name).ToEquatableArray(),
            problem,
            castResult,
            body);
    }

    /// <summary>Why <paramref name="method"/> cannot be the module's forward, or null when it can.</summary>
    private static string? SignatureProblem(IMethodSymbol method, INamedTypeSymbol? moduleBase)
    {
        if (moduleBase is null)
        {
            return null;
        }

        var arguments = moduleBase.TypeArguments;
        var expected = "(" + string.Join(", ", arguments.Take(arguments.Length - 1).Select(a => a.ToDisplayString())) + ") -> "
            + arguments[arguments.Length - 1].ToDisplayString();
        var actual = "(" + string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString())) + ") -> " + method.ReturnType.ToDisplayString();
        if (method.IsGenericMethod)
        {
            return $"it must not be generic; expected {expected}";
        }

        if (method.Parameters.Any(p => p.RefKind != RefKind.None || p.IsParams) || method.ReturnsByRef || method.ReturnsByRefReadonly)
        {
            return $"it must take and return values (no ref, out, in or params); expected {expected}";
        }

        var matches = method.Parameters.Length == arguments.Length - 1
            && method.Parameters.Select((p, i) => SymbolEqualityComparer.Default.Equals(p.Type, arguments[i])).All(m => m)
            && SymbolEqualityComparer.Default.Equals(method.ReturnType, arguments[arguments.Length - 1]);
        return matches ? null : $"expected {expected}, found {actual}";
    }

    private static LossMethodSpec ParseLoss(IMethodSymbol method, AttributeData attribute, INamedTypeSymbol? moduleBase, CancellationToken cancellationToken)
    {
        double? Double(string name) =>
            attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value is { } v && v is double or int or float or long
                ? System.Convert.ToDouble(v, System.Globalization.CultureInfo.InvariantCulture)
                : null;
        int? Int(string name) => attribute.NamedArguments.FirstOrDefault(a => a.Key == name).Value.Value is int v ? v : null;

        var result = moduleBase?.TypeArguments.LastOrDefault();
        var location = method.Locations.FirstOrDefault(l => l.IsInSource);
        return new LossMethodSpec(
            method.Name,
            LocationInfo.From(location)!,
            SymbolFacts.IsTensor(method.ReturnType),
            method.ReturnType.ToDisplayString(SymbolFacts.FullyQualified),
            method.Parameters.Select(p => new ParameterSpec(p.Name, p.Type.ToDisplayString(SymbolFacts.FullyQualified))).ToEquatableArray(),
            FirstParameterTakesResult: !method.IsGenericMethod && method.Parameters.Length > 0 && result is not null
                && method.Parameters.All(p => p.RefKind == RefKind.None)
                && SymbolEqualityComparer.Default.Equals(method.Parameters[0].Type, result),
            IsCallableWithValues: !method.IsGenericMethod && !method.IsVararg && !method.IsExtensionMethod
                && method.ContainingType.GetMembers(method.Name).Length == 1
                && !method.DeclaringSyntaxReferences.Any(r => r.GetSyntax(cancellationToken) is MethodDeclarationSyntax { ParameterList.ContainsDiagnostics: true })
                && method.Parameters.All(p => p.RefKind == RefKind.None && !p.IsParams && !p.IsThis
                    && p.Name.Length > 0 && !SymbolFacts.ContainsErrorType(p.Type)),
            new LossScaleSpec(
                Double(TypeNames.InitialScale),
                Double(TypeNames.GrowthFactor),
                Double(TypeNames.BackoffFactor),
                Int(TypeNames.GrowthInterval),
                Int(TypeNames.Hysteresis),
                Double(TypeNames.MinScale),
                Double(TypeNames.MaxScale)));
    }
}
