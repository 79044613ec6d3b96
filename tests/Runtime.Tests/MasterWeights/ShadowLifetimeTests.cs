using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.MasterWeights;

/// <summary>
/// The shadows refresh only when the masters changed, so a forward never rewrites tensors an earlier forward's
/// graph still needs, and generated forwards of one model run on many threads at once with serial results.
/// </summary>
public sealed class ShadowLifetimeTests
{
    public static TheoryData<HalfMatmulKernel> Kernels => new() { HalfMatmulKernel.Auto, HalfMatmulKernel.Widened };

    [Theory]
    [MemberData(nameof(Kernels))]
    public void A_model_called_twice_before_one_backward_gets_the_gradients_of_both_calls(HalfMatmulKernel kernel)
    {
        using var scope = NewDisposeScope();
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var (x, _) = RegressionData.Create();
        var model = new TinyMlp(PrecisionKind.Bf16);
        model.call(x).sum().backward();
        model.State.MoveGradientsToMasters();
        var once = model.Fc1.weight.grad!.clone();
        model.zero_grad();

        (model.call(x).sum() + model.call(x).sum()).backward();
        model.State.MoveGradientsToMasters();

        Assert.Equal(Snapshots.Values(once * 2), Snapshots.Values(model.Fc1.weight.grad!));
    }

    [Fact]
    public void Forwards_of_an_unchanged_model_copy_nothing_and_a_step_refreshes_once()
    {
        using var scope = NewDisposeScope();
        var (x, y) = RegressionData.Create();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.SGD(model.parameters(), 0.1);
        model.call(x);

        for (var i = 0; i < 5; i++)
        {
            model.call(x);
        }

        Assert.Equal(0, model.State.ShadowRefreshes);
        model.TrainStep(x, y, optimizer, model.CreateGradScaler());
        Assert.Equal(0, model.State.ShadowRefreshes); // the step's own forward ran before the masters changed
        var stepped = model.call(x);
        model.call(x);
        Assert.Equal(1, model.State.ShadowRefreshes);

        MixedPrecisionState.MastersChanged(model);
        model.call(x);
        Assert.Equal(2, model.State.ShadowRefreshes);
        Assert.Equal(Snapshots.Values(model.Fc1.weight.to(ScalarType.BFloat16)), Snapshots.Values(model.State.Slots.First(s => s.Name == "weight").Shadow));
        Assert.Equal(ScalarType.Float32, stepped.dtype);
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Auto, true)]
    [InlineData(HalfMatmulKernel.Auto, false)]
    [InlineData(HalfMatmulKernel.Widened, true)]
    [InlineData(HalfMatmulKernel.Widened, false)]
    public void Eight_threads_calling_one_model_get_exactly_the_serial_results(HalfMatmulKernel kernel, bool noGrad)
    {
        using var kernels = PolicyOverride.HalfMatmul(kernel);
        var model = new ContainerModel(PrecisionKind.Bf16);
        var generator = new torch.Generator().manual_seed(3);
        var inputs = Enumerable.Range(0, 8).Select(_ => randn(new long[] { 4, 4 }, generator: generator)).ToArray();
        var serial = inputs.Select(input => Snapshots.Values(model.call(input))).ToArray();

        var mismatches = 0;
        var failures = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            try
            {
                for (var call = 0; call < 1000; call++)
                {
                    using var scope = NewDisposeScope();
                    using var mode = noGrad ? no_grad() : enable_grad();
                    var index = (t + call) % inputs.Length;
                    if (!Snapshots.Values(model.call(inputs[index])).SequenceEqual(serial[index]))
                    {
                        Interlocked.Increment(ref mismatches);
                    }
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Empty(failures);
        Assert.Equal(0, mismatches);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void Readers_on_other_threads_see_whole_versions_of_the_weights_while_one_thread_trains()
    {
        var (x, y) = RegressionData.Create();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var optimizer = optim.SGD(model.parameters(), 0.05);
        var scaler = model.CreateGradScaler();
        var versions = new ConcurrentBag<float[]> { Snapshots.Values(model.call(x)) };
        var seen = new ConcurrentBag<float[]>();
        var failures = new ConcurrentQueue<Exception>();
        var training = true;

        var readers = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            try
            {
                while (Volatile.Read(ref training))
                {
                    using var scope = NewDisposeScope();
                    using var noGrad = no_grad();
                    seen.Add(Snapshots.Values(model.call(x)));
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        })).ToList();
        readers.ForEach(t => t.Start());
        for (var step = 0; step < 40; step++)
        {
            using var scope = NewDisposeScope();
            Assert.True(model.TrainStep(x, y, optimizer, scaler).Stepped);
            using var noGrad = no_grad();
            versions.Add(Snapshots.Values(model.call(x)));
        }

        Volatile.Write(ref training, false);
        readers.ForEach(t => t.Join());

        Assert.Empty(failures);
        Assert.NotEmpty(seen);
        var known = versions.Select(v => string.Join(",", v)).ToHashSet();
        Assert.All(seen, s => Assert.Contains(string.Join(",", s), known));
    }
}
