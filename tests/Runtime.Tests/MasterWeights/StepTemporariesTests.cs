using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

/// <summary>
/// The training step frees the loss's temporaries before the backward: the forward's fp32 result (a language model's
/// logits: batch x positions x vocabulary) is no longer held while the backward allocates its gradients.
/// </summary>
public sealed class StepTemporariesTests
{
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

        var loss = accumulate
            ? model.State.AccumulateGradients(ComputeLoss, scaler, 1.0)
            : model.State.TrainStep(ComputeLoss, model.CreateAdamW(), scaler, null).Loss;

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
