using System;
using System.Linq;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

/// <summary>Issue #15 (O(1) bookkeeping per step) and #17 (persistent bytes per parameter).</summary>
[Collection(ProcessWideStateCollection.Name)] // counts tensors: no flat build elsewhere may make the optimizer re-resolve meanwhile
public sealed class FlatBookkeepingTests
{
    /// <summary>
    /// The measure: TorchSharp tensors created (each wrapper is a native tensor handle, and every per-parameter
    /// operation creates at least one). The per-parameter code this replaced created several per parameter in
    /// the move, the refresh and the unscale/check/step.
    /// </summary>
    [Fact]
    public void Per_step_bookkeeping_creates_as_many_tensors_for_32_layers_as_for_4()
    {
        using var threads = new SingleThreadedTorch();
        var shallow = Bookkeeping(depth: 4);
        var deep = Bookkeeping(depth: 32);

        Assert.Equal(shallow, deep);
        Assert.True(shallow.Refresh > 0 && shallow.Apply > 0, $"{shallow}");
    }

    private static (long Attach, long Release, long Refresh, long Apply) Bookkeeping(int depth)
    {
        using var scope = NewDisposeScope();
        var model = new DeepMlp(depth, PrecisionKind.Bf16);
        var optimizer = model.CreateAdamW(lr: 1e-3);
        var scaler = new GradScaler(initialScale: 256); // enabled: the unscale runs too
        var (x, y) = (randn(4, 8), randn(4, 8));
        for (var warmUp = 0; warmUp < 2; warmUp++)
        {
            model.TrainStep(x, y, optimizer, scaler, maxGradNorm: 1.0);
        }

        // The generated step's bookkeeping around its backward: the shadows' gradients point into the masters' and back.
        var flat = model.State.Flat!;
        long attach, release;
        using (var backward = NewDisposeScope())
        {
            var loss = scaler.Scale(nn.functional.mse_loss(model.call(x), y));
            attach = TensorsCreatedBy(flat.AttachShadowGradients);
            loss.backward();
            release = TensorsCreatedBy(flat.ReleaseShadowGradients);
        }

        var apply = TensorsCreatedBy(() => model.ApplyGradients(optimizer, scaler, maxGradNorm: 1.0));
        var refresh = TensorsCreatedBy(flat.Refresh);
        return (attach, release, refresh, apply);
    }

    [Fact]
    public void A_TorchSharp_optimizer_over_the_flat_masters_is_unscaled_and_checked_over_one_range()
    {
        using var scope = NewDisposeScope();
        var model = new DeepMlp(8, PrecisionKind.Bf16);
        var optimizer = optim.AdamW(model.parameters(), lr: 1e-3);
        var (x, y) = (randn(4, 8), randn(4, 8));
        model.TrainStep(x, y, optimizer, new GradScaler(initialScale: 256));

        var range = Assert.Single(model.State.GradientsOf(optimizer));
        Assert.Equal(model.parameters().Sum(p => p.numel()), range.numel());

        // A parameter outside the flat buffers: each parameter's gradient, as before.
        var extra = new Parameter(randn(3));
        extra.grad = zeros(3);
        var mixed = optim.AdamW(model.parameters().Append(extra), lr: 1e-3);
        Assert.Equal(model.parameters().Count() + 1, model.State.GradientsOf(mixed).Count());
    }

    private static long TensorsCreatedBy(Action action)
    {
        var statistics = DisposeScopeManager.Statistics;
        var before = statistics.CreatedInScopeCount + statistics.CreatedOutsideScopeCount;
        action();
        return statistics.CreatedInScopeCount + statistics.CreatedOutsideScopeCount - before;
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Auto)]
    [InlineData(HalfMatmulKernel.Widened)]
    [InlineData(HalfMatmulKernel.Native)]
    public void Persistent_bytes_are_the_documented_bytes_per_parameter(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = new DeepMlp(3, PrecisionKind.Bf16);
        var optimizer = model.CreateAdamW();
        model.TrainStep(randn(4, 8), randn(4, 8), optimizer, new GradScaler(enabled: false));

        var bytes = MixedPrecisionState.PersistentBytesOf(model, optimizer);

        var slots = model.State.Slots;
        var all = model.parameters().Sum(p => p.numel());
        var half = slots.Sum(s => s.Master.numel());
        var widened = slots.Where(s => s.Widened is not null).Sum(s => s.Master.numel());
        Assert.Equal(kernel switch { HalfMatmulKernel.Widened => half, HalfMatmulKernel.Native => 0, _ => widened }, widened);
        // The formula of docs/ARCHITECTURE.md ...
        Assert.Equal(4 * all, bytes.Masters);
        Assert.Equal(4 * all, bytes.MasterGradients);
        Assert.Equal(2 * half, bytes.HalfShadows);
        Assert.Equal(4 * widened, bytes.WidenedCopies);
        Assert.Equal(8 * all, bytes.OptimizerState);
        Assert.Equal((4 + 4 + 8) * all + 2 * half + 4 * widened, bytes.Total);
        // ... is what the tensors the model computes with hold.
        Assert.Equal(model.parameters().Sum(p => p.numel() * p.ElementSize), bytes.Masters);
        Assert.Equal(model.parameters().Sum(p => p.grad!.numel() * p.grad!.ElementSize), bytes.MasterGradients);
        Assert.Equal(slots.Sum(s => s.Shadow.numel() * s.Shadow.ElementSize), bytes.HalfShadows);
        Assert.Equal(slots.Where(s => s.Widened is not null).Sum(s => s.Widened!.numel() * s.Widened!.ElementSize), bytes.WidenedCopies);
        // Issue #17: no half (or widened) gradient outlives the step; the backward added them into the masters' as it went.
        Assert.All(slots, s => Assert.Null(s.Shadow.grad));
        Assert.All(slots, s => Assert.Null(s.Widened?.grad));
    }
}
