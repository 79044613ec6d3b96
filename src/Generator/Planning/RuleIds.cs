namespace PrecisionDsl.Generator.Planning
{
    /// <summary>The PDSL rule ids the planner reports problems under (SPEC section 5). IDs never change meaning.</summary>
    internal static class RuleIds
    {
        public const string NotPartial = "PDSL001";
        public const string NotAModule = "PDSL002";
        public const string ConflictingAttributes = "PDSL003";
        public const string SensitiveLayerInHalf = "PDSL004";
        public const string HalfConstant = "PDSL005";
        public const string Fp16WithoutLossScaling = "PDSL006";
        public const string LossNotTensor = "PDSL007";
        public const string ForwardProblem = "PDSL008";
        public const string UnknownLayerAnnotated = "PDSL009";
        public const string Fp32OpPromoted = "PDSL010";
        public const string ManualCast = "PDSL011";
        public const string LossNotCallable = "PDSL012";
        public const string LayerTypeNotVisible = "PDSL013";

        /// <summary>Error rules: a model with one of these gets only a throwing <c>forward</c>.</summary>
        public static bool IsError(string ruleId) =>
            ruleId is NotPartial or NotAModule or ConflictingAttributes or LossNotTensor or ForwardProblem;
    }
}
