namespace PrecisionDsl.Generator { internal static class TypeNames { } }
