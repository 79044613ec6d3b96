using System;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace PrecisionDsl.Tests.Shared;

/// <summary>
/// Seeded initial weights without TorchSharp's global RNG. Layer constructors draw from that one and TorchSharp 0.107
/// gives them no generator parameter, so with tests in parallel <c>manual_seed</c> then construct does not give the
/// same weights twice: another test's layers or dropout may draw in between.
/// </summary>
internal static class Deterministic
{
    /// <summary>
    /// Overwrites, in place, every parameter of <paramref name="model"/> that its constructor drew at random, from a
    /// generator seeded with <paramref name="seed"/>: uniform(±1/√fan-in) as TorchSharp initialises Linear and Conv
    /// layers, the fan-in being that of the module's first matrix (or the parameter's own size). Parameters of several
    /// elements, all equal (norm layers' ones and zeros), are deterministic already and keep their values.
    /// Call it before a precision model's first forward: that moves the parameters into flat buffers and builds the
    /// half shadows from them.
    /// </summary>
    public static T Initialize<T>(T model, long seed) where T : nn.Module
    {
        var generator = new torch.Generator().manual_seed(seed);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var module in model.modules().Prepend(model))
        {
            var parameters = module.named_parameters(recurse: false).Select(p => p.parameter).ToArray();
            var matrix = parameters.FirstOrDefault(p => p.dim() > 1);
            foreach (var parameter in parameters.Where(p => !Constant(p)))
            {
                var bound = 1 / Math.Sqrt(FanIn(matrix ?? parameter));
                parameter.copy_((rand(parameter.shape, generator: generator) * 2 - 1) * bound);
            }
        }

        return model;
    }

    private static long FanIn(Tensor parameter) => parameter.dim() > 1 ? parameter.numel() / parameter.shape[0] : parameter.numel();

    private static bool Constant(Tensor parameter) => parameter.numel() > 1 && parameter.eq(parameter.view(-1)[0]).all().item<bool>();
}
