using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Lifetime;

/// <summary>
/// A training step disposes its temporaries itself: after warm-up (shadows, gradient buffers and optimizer state
/// exist) no step leaves a live tensor behind for the garbage collector — on CUDA such a tensor holds device
/// memory until a collection. Counted with TorchSharp's per-thread live-tensor statistics. And it frees the loss's
/// temporaries before the backward: the forward's fp32 result (a language model's logits: batch x positions x
/// vocabulary) is no longer held while the backward allocates its gradients.
/// </summary>
public sealed class StepTemporariesTests
{
    [Theory]
    [InlineData(PrecisionKind.Bf16)]
    [InlineData(PrecisionKind.Fp16)]
    [InlineData(PrecisionKind.Fp32)]
    public void Train_steps_leave_no_live_tensor_behind(PrecisionKind kind)
    {
        var (x, y) = RegressionData.Create();
        var model = new TinyMlp(kind);
        var optimizer = optim.AdamW(model.parameters(), lr: 1e-3);
        var scaler = model.CreateGradScaler();

        var leftPerStep = LiveTensorsAdded(() => model.TrainStep(x, y, optimizer, scaler, maxGradNorm: 1.0));

        Assert.Equal(0, leftPerStep);
    }

    [Fact]
    public void Gradient_accumulation_leaves_no_live_tensor_behind()
    {
        var (x, y) = RegressionData.Create();
        var model = new TinyMlp(PrecisionKind.Fp16);
        var optimizer = optim.SGD(model.parameters(), 0.01, momentum: 0.9);
        var scaler = model.CreateGradScaler();
        var (x1, y1, x2, y2) = (x[..16], y[..16], x[16..], y[16..]);

        var leftPerStep = LiveTensorsAdded(() =>
        {
            model.AccumulateGradients(x1, y1, scaler, 0.5);
            model.AccumulateGradients(x2, y2, scaler, 0.5);
            model.ApplyGradients(optimizer, scaler);
        });

        Assert.Equal(0, leftPerStep);
    }

    /// <summary>Live tensors of this thread added by 10 runs of <paramref name="step"/> after 3 warm-up runs.</summary>
    private static long LiveTensorsAdded(System.Action step)
    {
        for (var i = 0; i < 3; i++)
        {
            step();
        }

        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 10; i++)
        {
            step();
        }

        return DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void The_forward_result_is_freed_before_the_backward_runs(bool accumulate)
    {
        using var scope = NewDisposeScope();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();
        Tensor? output = null;
        bool? outputAliveInBackward = null;
        var scaler = new GradScaler(enabled: false);
        Tensor ComputeLoss()
        {
            output = model.call(x);
            var loss = nn.functional.mse_loss(output, y);
            return BackwardProbe.Wrap(loss, () => outputAliveInBackward = !output.IsInvalid);
        }

        var optimizer = model.CreateAdamW();
        if (accumulate)
        {
            model.State.AccumulateGradients(ComputeLoss, scaler, 1.0);
        }

        var loss = accumulate
            ? model.State.ApplyGradients(optimizer, scaler, null).Loss
            : model.State.TrainStep(ComputeLoss, optimizer, scaler, null).Loss;

        Assert.False(outputAliveInBackward);
        Assert.True(double.IsFinite(loss) && loss > 0);
    }

    /// <summary>The identity, calling an action when its backward runs.</summary>
    private sealed class BackwardProbe : autograd.SingleTensorFunction<BackwardProbe>
    {
        private static readonly ConcurrentDictionary<long, Action> Pending = new();
        private static long next;

        public override string Name => nameof(BackwardProbe);

        public static Tensor Wrap(Tensor input, Action onBackward)
        {
            var id = Interlocked.Increment(ref next);
            Pending[id] = onBackward;
            return apply(input, id);
        }

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            ctx.save_data("id", (long)vars[1]);
            return ((Tensor)vars[0]).alias();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
        {
            var id = (long)ctx.get_data("id");
            Pending.TryRemove(id, out var onBackward);
            onBackward!();
            return [grad_output, null!];
        }
    }
}
