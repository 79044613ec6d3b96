using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Policy;

/// <summary>No global settings: each model keeps the settings it was created under, and scopes are per execution context.</summary>
public sealed class PrecisionSettingsTests
{
    // Shared by every test, so kept out of whichever dispose scope first touches it.
    private static readonly Tensor X = RegressionData.Create().X.DetachFromDisposeScope();

    [Fact]
    public void Two_models_with_different_settings_used_interleaved_on_one_thread_each_keep_their_mode()
    {
        using var scope = NewDisposeScope();
        using var logA = new CapturingLogger();
        using var logB = new CapturingLogger();
        var a = ModelUnder(BFloat16Widened(logA));
        var b = ModelUnder(Float16Native(logB));

        for (var round = 0; round < 3; round++)
        {
            a.call(X);
            b.call(X);
        }

        AssertMode(a, ScalarType.BFloat16, widened: true);
        AssertMode(b, ScalarType.Float16, widened: false);
        Assert.Same(logA, a.CreateGradScaler().Logger);
        Assert.False(a.CreateGradScaler().IsEnabled);
        Assert.True(b.CreateGradScaler().IsEnabled);

        // Each logger hears its own model: A's the CPU bf16 mapping, and each the warning about its own unmoved gradients.
        Assert.Contains(logA.Messages, m => m.Level == LogLevel.Information && m.Message.Contains("BFloat16"));
        Assert.DoesNotContain(logB.Messages, m => m.Message.Contains("BFloat16"));
        nn.functional.mse_loss(a.call(X), zeros(32, 1)).backward();
        a.call(X);
        b.call(X);
        Assert.Single(logA.Messages, m => m.Level == LogLevel.Warning);
        Assert.DoesNotContain(logB.Messages, m => m.Level == LogLevel.Warning);
        nn.functional.mse_loss(b.call(X), zeros(32, 1)).backward();
        b.call(X);
        Assert.Single(logB.Messages, m => m.Level == LogLevel.Warning);
        Assert.Single(logA.Messages, m => m.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task Two_models_with_different_settings_on_two_threads_each_keep_their_mode()
    {
        // No dispose scope here: TorchSharp's scopes belong to a thread, and this test resumes on another one.
        using var logA = new CapturingLogger();
        using var logB = new CapturingLogger();
        var settingsA = BFloat16Widened(logA);
        var settingsB = Float16Native(logB);
        var a = ModelUnder(settingsA);
        var b = ModelUnder(settingsB);
        using var together = new Barrier(2);

        // Each thread's own scope says the other model's settings: neither model may follow them.
        void Run(TinyMlp model, PrecisionSettings threadSettings)
        {
            using var threadScope = NewDisposeScope();
            using var ambient = PrecisionPolicy.Use(threadSettings);
            try
            {
                for (var call = 0; call < 20; call++)
                {
                    together.SignalAndWait();
                    model.call(X);
                    Assert.Same(threadSettings, PrecisionPolicy.Current); // the forward restored this thread's settings
                }
            }
            finally
            {
                together.RemoveParticipant(); // a failing thread must not leave the other waiting
            }
        }

        await Task.WhenAll(
            Task.Factory.StartNew(() => Run(a, settingsB), TaskCreationOptions.LongRunning),
            Task.Factory.StartNew(() => Run(b, settingsA), TaskCreationOptions.LongRunning));

        AssertMode(a, ScalarType.BFloat16, widened: true);
        AssertMode(b, ScalarType.Float16, widened: false);
        Assert.Equal(21, a.Fc1WeightsSeen.Count);
    }

    [Fact]
    public void Settings_changed_after_the_first_forward_do_not_change_the_model()
    {
        using var scope = NewDisposeScope();
        using var log = new CapturingLogger();
        var model = ModelUnder(BFloat16Widened(log));
        var captured = model.State.Settings;

        using (PrecisionPolicy.Use(Float16Native(log)))
        {
            model.call(X);
            model.to(ScalarType.Float64).to(ScalarType.Float32); // new masters: the shadows are rebuilt, under the captured settings
            model.call(X);
            Assert.False(model.CreateGradScaler().IsEnabled);
        }

        Assert.Same(captured, model.State.Settings);
        AssertMode(model, ScalarType.BFloat16, widened: true);
    }

    [Fact]
    public void Inside_a_forward_routed_ops_and_nested_models_see_the_model_settings_and_outside_the_ambient_ones()
    {
        using var scope = NewDisposeScope();
        using var log = new CapturingLogger();
        var layer = nn.Linear(4, 4);
        MixedPrecisionState state;
        using (PrecisionPolicy.Use(BFloat16Widened(log)))
        {
            state = new MixedPrecisionState(layer, new[] { new PrecisionLayer("fc", layer, PrecisionKind.Fp16) }, null);
        }

        var ambient = Float16Native(log);
        using (PrecisionPolicy.Use(ambient))
        {
            Assert.False(PrecisionPolicy.Widens(KernelFamily.Linear, ScalarType.BFloat16, DeviceType.CPU));
            using (var forward = state.EnterForward())
            {
                Assert.Same(state.Settings, PrecisionPolicy.Current);
                // Every bf16 kernel widened: activations keep fp32 (excess precision, on by default).
                Assert.Equal(ScalarType.Float32, forward.Fp16);
                // The question CheckedOps asks before each product.
                Assert.True(PrecisionPolicy.Widens(KernelFamily.Linear, ScalarType.BFloat16, DeviceType.CPU));
                var nested = nn.Linear(2, 2);
                Assert.Same(state.Settings, new MixedPrecisionState(nested, new[] { new PrecisionLayer("fc", nested, PrecisionKind.Fp16) }, null).Settings);
            }

            Assert.Same(ambient, PrecisionPolicy.Current);
        }
    }

    [Fact]
    public async Task A_scope_flows_through_awaits_and_tasks_and_restores_the_outer_settings_on_dispose()
    {
        var outer = PrecisionPolicy.Current;
        var mine = outer with { CpuHalfMatmul = HalfMatmulKernel.Widened };
        using (PrecisionPolicy.Use(mine))
        {
            await Task.Yield();
            Assert.Same(mine, PrecisionPolicy.Current);
            Assert.Same(mine, await Task.Run(() => PrecisionPolicy.Current));

            var nested = mine with { CpuFp16Dtype = ScalarType.Float16 };
            using (PrecisionPolicy.Use(nested))
            {
                await Task.Delay(1);
                Assert.Same(nested, PrecisionPolicy.Current);
            }

            Assert.Same(mine, PrecisionPolicy.Current);
        }

        Assert.Same(outer, PrecisionPolicy.Current);
    }

    [Fact]
    public async Task Concurrent_scopes_do_not_see_each_other()
    {
        var outer = PrecisionPolicy.Current;
        using var together = new Barrier(2);
        PrecisionSettings Observe(PrecisionSettings settings)
        {
            using var scope = PrecisionPolicy.Use(settings);
            together.SignalAndWait(); // both scopes are open now
            return PrecisionPolicy.Current;
        }

        var widened = outer with { CpuHalfMatmul = HalfMatmulKernel.Widened };
        var native = outer with { CpuHalfMatmul = HalfMatmulKernel.Native };
        var seen = await Task.WhenAll(
            Task.Factory.StartNew(() => Observe(widened), TaskCreationOptions.LongRunning),
            Task.Factory.StartNew(() => Observe(native), TaskCreationOptions.LongRunning));

        Assert.Same(widened, seen[0]);
        Assert.Same(native, seen[1]);
        Assert.Same(outer, PrecisionPolicy.Current);
    }

    [Fact]
    public void Disposing_a_scope_twice_does_not_undo_a_later_scope()
    {
        var first = PrecisionPolicy.Current with { CpuHalfMatmul = HalfMatmulKernel.Widened };
        var second = PrecisionPolicy.Current with { CpuHalfMatmul = HalfMatmulKernel.Native };
        var scope = PrecisionPolicy.Use(first);
        scope.Dispose();
        using (PrecisionPolicy.Use(second))
        {
            scope.Dispose();
            Assert.Same(second, PrecisionPolicy.Current);
        }
    }

    [Fact]
    public void Default_settings_come_from_the_environment_and_a_new_record_from_nothing()
    {
        Assert.Same(PrecisionSettings.FromEnvironment, PrecisionPolicy.Current);
        Assert.Equal(new PrecisionSettings(), new PrecisionSettings { CpuFp16Dtype = ScalarType.BFloat16, CpuHalfMatmul = HalfMatmulKernel.Auto });
        Assert.Equal(PrecisionSettings.FromEnvironment.Logger, new PrecisionSettings().Logger);
    }

    [Fact]
    public void Excess_precision_is_logged_once_per_logger_and_not_when_every_half_op_rounds()
    {
        using var scope = NewDisposeScope();
        using var excessLog = new CapturingLogger();
        using var roundingLog = new CapturingLogger();

        ModelUnder(BFloat16Widened(excessLog));
        ModelUnder(BFloat16Widened(excessLog));
        ModelUnder(BFloat16Widened(roundingLog) with { CpuExcessPrecision = false });

        Assert.Single(excessLog.Messages, m => m.Level == LogLevel.Information && m.Message.Contains("excess precision"));
        Assert.DoesNotContain(roundingLog.Messages, m => m.Message.Contains("excess precision"));
    }

    private static PrecisionSettings BFloat16Widened(ILogger logger) =>
        new() { CpuFp16Dtype = ScalarType.BFloat16, CpuHalfMatmul = HalfMatmulKernel.Widened, Logger = logger };

    private static PrecisionSettings Float16Native(ILogger logger) =>
        new() { CpuFp16Dtype = ScalarType.Float16, CpuHalfMatmul = HalfMatmulKernel.Native, Logger = logger };

    /// <summary>A [Fp16] model whose state, created at its first forward, captures <paramref name="settings"/>.</summary>
    private static TinyMlp ModelUnder(PrecisionSettings settings)
    {
        using (PrecisionPolicy.Use(settings))
        {
            var model = new TinyMlp(PrecisionKind.Fp16);
            model.call(X);
            return model;
        }
    }

    private static void AssertMode(TinyMlp model, ScalarType shadowDtype, bool widened)
    {
        // A widened layer holds the fp32 copy of its half shadow during the forward.
        Assert.All(model.Fc1WeightsSeen, seen => Assert.Equal(widened ? ScalarType.Float32 : shadowDtype, seen.Dtype));
        Assert.All(model.State.Slots, slot => Assert.Equal(shadowDtype, slot.Shadow.dtype));
        Assert.All(model.State.Slots, slot => Assert.Equal(widened, slot.Widened is not null));
    }
}
