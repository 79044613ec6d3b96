using System;
using System.Linq;
using Microsoft.Extensions.Logging;
using PrecisionDsl.Runtime.Tests.Support;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PrecisionDsl.Runtime.Tests.Policy;

public sealed class PrecisionPolicyTests
{
    [Theory]
    [InlineData(PrecisionKind.Fp32, DeviceType.CPU, ScalarType.Float32)]
    [InlineData(PrecisionKind.Fp32, DeviceType.CUDA, ScalarType.Float32)]
    [InlineData(PrecisionKind.Bf16, DeviceType.CPU, ScalarType.BFloat16)]
    [InlineData(PrecisionKind.Bf16, DeviceType.CUDA, ScalarType.BFloat16)]
    [InlineData(PrecisionKind.Fp16, DeviceType.CUDA, ScalarType.Float16)]
    [InlineData(PrecisionKind.Fp16, DeviceType.CPU, ScalarType.BFloat16)]
    public void Precision_kinds_map_to_dtypes_by_device(PrecisionKind kind, DeviceType device, ScalarType expected)
    {
        using var defaultMapping = PolicyOverride.CpuFp16(ScalarType.BFloat16);
        using var logger = new CapturingLogger();

        Assert.Equal(expected, PrecisionPolicy.DtypeFor(kind, device));
    }

    [Fact]
    public void Fp16_on_cpu_mapping_to_bf16_is_logged_once_and_can_be_overridden()
    {
        using var defaultMapping = PolicyOverride.CpuFp16(ScalarType.BFloat16);
        using var logger = new CapturingLogger();

        for (var call = 0; call < 3; call++)
        {
            Assert.Equal(ScalarType.BFloat16, PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, DeviceType.CPU));
        }

        var message = Assert.Single(logger.Messages);
        Assert.Equal(LogLevel.Information, message.Level);
        Assert.Contains("BFloat16", message.Message);
        Assert.Contains(PrecisionPolicy.CpuFp16EnvironmentVariable, message.Message);

        using (PolicyOverride.CpuFp16(ScalarType.Float16))
        {
            Assert.Equal(ScalarType.Float16, PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, DeviceType.CPU));
        }

        Assert.Single(logger.Messages);
    }

    [Theory]
    [InlineData("fp16", ScalarType.Float16)]
    [InlineData(" Float16 ", ScalarType.Float16)]
    [InlineData("bf16", ScalarType.BFloat16)]
    [InlineData("", ScalarType.BFloat16)]
    [InlineData(null, ScalarType.BFloat16)]
    public void Environment_variable_selects_the_cpu_fp16_dtype(string? setting, ScalarType expected)
    {
        Assert.Equal(expected, PrecisionSettings.ParseCpuFp16(setting));
    }

    [Fact]
    public void Cpu_fp16_dtype_accepts_only_half_types()
    {
        var exception = Assert.Throws<ArgumentException>(() => PrecisionPolicy.Current with { CpuFp16Dtype = ScalarType.Float32 });
        Assert.Equal("value", exception.ParamName);
        Assert.Equal(ScalarType.Float16, new PrecisionSettings { CpuFp16Dtype = ScalarType.Float16 }.CpuFp16Dtype);
    }

    [Fact]
    public void Model_scaler_is_enabled_only_where_fp16_is_real_and_carries_the_loss_scaled_options()
    {
        using var scope = NewDisposeScope();
        using var logger = new CapturingLogger();
        var options = new LossScaleOptions(1024, 4, 0.25, 10, 2, 8, 4096);

        using (PolicyOverride.CpuFp16(ScalarType.BFloat16))
        {
            Assert.False(new TinyMlp(PrecisionKind.Fp16, lossScale: options).CreateGradScaler().IsEnabled);
        }

        Assert.False(new TinyMlp(PrecisionKind.Bf16, lossScale: options).CreateGradScaler().IsEnabled);
        using (PolicyOverride.CpuFp16(ScalarType.Float16))
        {
            var scaler = new TinyMlp(PrecisionKind.Fp16, lossScale: options).CreateGradScaler();
            Assert.True(scaler.IsEnabled);
            Assert.Equal(new GradScalerState(1024, 0, 2, 0, 1024, 4, 0.25, 10, 2, 8, 4096, true), scaler.GetState());
        }
    }

    [Fact]
    public void Multihead_attention_given_a_half_kind_stays_fp32_and_says_so()
    {
        using var scope = NewDisposeScope();
        using var logger = new CapturingLogger();
        var attention = nn.MultiheadAttention(8, 2);
        var state = new MixedPrecisionState(attention, new[] { new PrecisionLayer("attention", attention, PrecisionKind.Bf16) }, null);

        using (state.EnterForward())
        {
            Assert.All(attention.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        }

        Assert.Empty(state.Slots);
        Assert.Contains(logger.Messages, m => m.Level == LogLevel.Warning && m.Message.Contains("attention") && m.Message.Contains("fp32"));
    }

    [Fact]
    public void Real_fp16_trained_with_a_disabled_scaler_is_warned_about_once()
    {
        using var scope = NewDisposeScope();
        using var logger = new CapturingLogger();
        using var realFp16 = PolicyOverride.CpuFp16(ScalarType.Float16);
        var (x, y) = RegressionData.Create();
        var scaled = new TinyMlp(PrecisionKind.Fp16);
        var unscaled = new TinyMlp(PrecisionKind.Fp16);

        scaled.AccumulateGradients(x, y, scaled.CreateGradScaler());
        Assert.DoesNotContain(logger.Messages, m => m.Message.Contains("GradScaler is disabled"));
        unscaled.AccumulateGradients(x, y, new GradScaler(enabled: false));
        unscaled.AccumulateGradients(x, y, new GradScaler(enabled: false));

        var warning = Assert.Single(logger.Messages, m => m.Message.Contains("GradScaler is disabled"));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains(nameof(TinyMlp), warning.Message);
    }

    [Fact]
    public void Masters_replaced_by_to_get_fresh_shadows_and_receive_the_gradients()
    {
        using var scope = NewDisposeScope();
        var model = new TinyMlp(PrecisionKind.Bf16);
        var (x, y) = RegressionData.Create();
        model.call(x);
        var firstShadow = model.State.Slots[0].Shadow;

        model.to(ScalarType.Float64).to(ScalarType.Float32);
        model.AccumulateGradients(x, y, new GradScaler(enabled: false));

        Assert.NotSame(firstShadow, model.State.Slots[0].Shadow);
        Assert.Same(model.Fc1.weight, model.State.Slots.First(s => s.Name == "weight").Master);
        Assert.True(model.Fc1.weight.grad!.abs().sum().item<float>() > 0);
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Native, ScalarType.BFloat16, DeviceType.CPU, false)]
    [InlineData(HalfMatmulKernel.Widened, ScalarType.BFloat16, DeviceType.CPU, true)]
    [InlineData(HalfMatmulKernel.Widened, ScalarType.Float16, DeviceType.CPU, true)]
    [InlineData(HalfMatmulKernel.Widened, ScalarType.Float32, DeviceType.CPU, false)]
    [InlineData(HalfMatmulKernel.Widened, ScalarType.BFloat16, DeviceType.CUDA, false)]
    [InlineData(HalfMatmulKernel.Auto, ScalarType.Float16, DeviceType.CUDA, false)]
    [InlineData(HalfMatmulKernel.Auto, ScalarType.Float32, DeviceType.CPU, false)]
    public void Half_kernels_widen_only_for_half_dtypes_on_cpu_as_configured(HalfMatmulKernel setting, ScalarType dtype, DeviceType device, bool widened)
    {
        using var kernels = PolicyOverride.HalfMatmul(setting);
        using var logger = new CapturingLogger();

        Assert.All(Enum.GetValues<KernelFamily>(), family => Assert.Equal(widened, PrecisionPolicy.Widens(family, dtype, device)));
        Assert.Empty(logger.Messages);
    }

    [Theory]
    [InlineData(HalfMatmulKernel.Native, ScalarType.BFloat16)]
    [InlineData(HalfMatmulKernel.Widened, ScalarType.BFloat16)]
    [InlineData(HalfMatmulKernel.Widened, ScalarType.Float16)]
    public void A_forced_setting_is_reported_for_every_family_without_testing(HalfMatmulKernel setting, ScalarType fp16Dtype)
    {
        using var kernels = PolicyOverride.HalfMatmul(setting);
        using var mapping = PolicyOverride.CpuFp16(fp16Dtype);
        using var logger = new CapturingLogger();

        var choices = PrecisionPolicy.KernelChoices.Where(c => c.Dtype == fp16Dtype).ToList();

        Assert.Equal(Enum.GetValues<KernelFamily>(), choices.Select(c => c.Family));
        var widened = setting == HalfMatmulKernel.Widened;
        var reason = $"forced by PDSL_CPU_HALF_MATMUL={setting.ToString().ToLowerInvariant()}";
        Assert.All(choices, c => Assert.Equal((widened, reason), (c.Widened, c.Reason)));
        Assert.Equal(fp16Dtype, PrecisionPolicy.KernelChoices[0].Dtype);
        Assert.Empty(logger.Messages);
    }

    [Fact]
    public void Auto_reports_the_self_tested_choice_of_every_family_and_routes_by_it()
    {
        using var kernels = PolicyOverride.HalfMatmul(HalfMatmulKernel.Auto);
        using var mapping = PolicyOverride.CpuFp16(ScalarType.BFloat16);

        var choices = PrecisionPolicy.KernelChoices.Where(c => c.Dtype == ScalarType.BFloat16).ToList();

        Assert.Equal(Enum.GetValues<KernelFamily>(), choices.Select(c => c.Family));
        Assert.All(choices, c =>
        {
            // Machine-dependent which, but never a native kernel without a passed check.
            Assert.Matches(c.Widened ? "^native (wrong|failed|.*slower)" : "^native correct and", c.Reason);
            Assert.Equal(c.Widened, PrecisionPolicy.Widens(c.Family, ScalarType.BFloat16, DeviceType.CPU));
        });
        Assert.Same(PrecisionPolicy.KernelChoices[0].Reason, choices[0].Reason); // decided once, not again
    }

    [Theory]
    [InlineData(null, HalfMatmulKernel.Auto)]
    [InlineData("auto", HalfMatmulKernel.Auto)]
    [InlineData(" Native ", HalfMatmulKernel.Native)]
    [InlineData("widened", HalfMatmulKernel.Widened)]
    [InlineData("fp32", HalfMatmulKernel.Widened)]
    [InlineData("turbo", HalfMatmulKernel.Auto)]
    public void Half_matmul_environment_setting_is_parsed_leniently(string? setting, HalfMatmulKernel expected) =>
        Assert.Equal(expected, PrecisionSettings.ParseCpuHalfMatmul(setting));

    [Theory]
    [InlineData(null, true)]
    [InlineData("on", true)]
    [InlineData(" OFF ", false)]
    [InlineData("0", false)]
    [InlineData("false", false)]
    [InlineData("maybe", true)]
    public void Excess_precision_environment_setting_is_parsed_leniently(string? setting, bool expected) =>
        Assert.Equal(expected, PrecisionSettings.ParseCpuExcessPrecision(setting));

    [Theory]
    [InlineData(HalfMatmulKernel.Widened, true, ScalarType.BFloat16, DeviceType.CPU, true)]
    [InlineData(HalfMatmulKernel.Widened, false, ScalarType.BFloat16, DeviceType.CPU, false)]
    [InlineData(HalfMatmulKernel.Widened, true, ScalarType.Float16, DeviceType.CPU, false)] // fp16 rounds: overflow is what loss scaling is for
    [InlineData(HalfMatmulKernel.Widened, true, ScalarType.BFloat16, DeviceType.CUDA, false)]
    [InlineData(HalfMatmulKernel.Native, true, ScalarType.BFloat16, DeviceType.CPU, false)]
    public void Bf16_keeps_activations_in_fp32_only_on_a_cpu_that_widens_its_linear_kernels_and_when_allowed(
        HalfMatmulKernel kernel, bool excessPrecision, ScalarType dtype, DeviceType deviceType, bool expected)
    {
        // Fp16 is the kind that maps to Float16 on CPU (when the settings say so).
        var kind = dtype == ScalarType.Float16 ? PrecisionKind.Fp16 : PrecisionKind.Bf16;
        var settings = new PrecisionSettings { CpuHalfMatmul = kernel, CpuExcessPrecision = excessPrecision, CpuFp16Dtype = ScalarType.Float16 };

        Assert.Equal(expected, settings.KeepsActivationsInFp32(dtype, deviceType));
        Assert.Equal(expected ? ScalarType.Float32 : settings.DtypeFor(kind, deviceType), settings.ActivationDtypeFor(kind, deviceType));
    }

    [Fact]
    public void Under_auto_excess_precision_follows_the_self_test_of_the_linear_family()
    {
        var settings = new PrecisionSettings { CpuHalfMatmul = HalfMatmulKernel.Auto };

        // Machine-dependent: AVX2 widens Linear, a CPU with AVX512_BF16 runs it natively.
        Assert.Equal(settings.Widens(KernelFamily.Linear, ScalarType.BFloat16, DeviceType.CPU), settings.KeepsActivationsInFp32(ScalarType.BFloat16, DeviceType.CPU));
    }

    [Fact]
    public void An_undefined_half_matmul_setting_is_rejected()
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => PrecisionPolicy.Current with { CpuHalfMatmul = (HalfMatmulKernel)42 });
        Assert.Equal("value", exception.ParamName);
    }
}
