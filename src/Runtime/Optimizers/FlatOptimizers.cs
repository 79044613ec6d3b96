using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using Module = TorchSharp.torch.nn.Module;

namespace PrecisionDsl;

/// <summary>
/// The fast-path optimizers (SPEC §7): fused AdamW and SGD over flat fp32 buffers, the flat masters of a precision
/// model and buffers of their own for any other module's parameters, so a plain fp32 module steps in a few kernels
/// too. Any other TorchSharp optimizer built on <c>model.parameters()</c> works as well, one parameter at a time.
/// </summary>
public static class FlatOptimizers
{
    /// <summary>AdamW over every parameter of <paramref name="model"/> (note the SPEC's default weight decay, 0.01).</summary>
    public static FlatAdamW CreateAdamW(this Module model, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weightDecay = 0.01) =>
        CreateAdamW(model, new[] { new AdamW.ParamGroup { Parameters = model.parameters() } }, lr, beta1, beta2, eps, weightDecay);

    /// <summary>
    /// AdamW with parameter groups (e.g. no weight decay on biases and norm weights); options a group leaves unset
    /// take these defaults. Vectors follow matrices in the flat buffers, so such a split is a few ranges.
    /// </summary>
    public static FlatAdamW CreateAdamW(this Module model, IEnumerable<AdamW.ParamGroup> groups, double lr = 1e-3,
        double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01) =>
        new(model, groups, lr, beta1, beta2, eps, weightDecay);

    /// <summary>SGD over every parameter of <paramref name="model"/>.</summary>
    public static FlatSgd CreateSgd(this Module model, double lr, double momentum = 0, double weightDecay = 0, bool nesterov = false) =>
        CreateSgd(model, new[] { new SGD.ParamGroup { Parameters = model.parameters() } }, lr, momentum, weightDecay, nesterov);

    /// <summary>SGD with parameter groups; options a group leaves unset take these defaults.</summary>
    public static FlatSgd CreateSgd(this Module model, IEnumerable<SGD.ParamGroup> groups, double lr, double momentum = 0,
        double weightDecay = 0, bool nesterov = false) =>
        new(model, groups, lr, momentum, weightDecay, nesterov);
}
