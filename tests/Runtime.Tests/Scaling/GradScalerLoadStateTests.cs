using System;
using Xunit;

namespace PrecisionDsl.Runtime.Tests.Scaling;

/// <summary>
/// <see cref="GradScaler.LoadState"/> validates the whole state before applying any of it: a hostile state throws
/// and leaves the scaler exactly as it was; an accepted state is restored exactly and keeps working.
/// </summary>
public sealed class GradScalerLoadStateTests
{
    private static readonly double[] HostileDoubles =
    {
        double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0, -1, 1e-300, 0.5, 1, 2, 65536, 16777216, 1e300,
    };

    private static readonly int[] HostileInts = { int.MinValue, -1, 0, 1, 2, 3, 2000, int.MaxValue };

    private static readonly long[] HostileLongs = { long.MinValue, -1, 0, 5, long.MaxValue };

    [Fact]
    public void Hostile_states_are_rejected_whole_or_restored_exactly()
    {
        var random = new Random(1234);
        var accepted = 0;
        for (var trial = 0; trial < 3000; trial++)
        {
            var scaler = new GradScaler(initialScale: 1024, growthInterval: 3, hysteresis: 2);
            scaler.MaxSkippedStepsAtMinScale = 7;
            var before = scaler.GetState();
            var hostile = Mutate(before, random);

            try
            {
                scaler.LoadState(hostile);
            }
            catch (ArgumentException)
            {
                Assert.Equal(before, scaler.GetState());
                continue;
            }

            accepted++;
            Assert.Equal(hostile, scaler.GetState());
            Assert.True(double.IsFinite(hostile.Scale) && hostile.Scale >= hostile.MinScale && hostile.Scale <= hostile.MaxScale);
            Assert.True(double.IsFinite(hostile.MaxScale));
            Assert.InRange(hostile.GrowthTracker, 0, hostile.GrowthInterval - 1);
            Assert.InRange(hostile.HysteresisLeft, 1, hostile.Hysteresis);
        }

        // Both outcomes must actually occur, or the test says nothing.
        Assert.InRange(accepted, 1, 2999);
    }

    [Fact]
    public void An_infinite_scale_is_rejected_even_when_max_scale_allows_it()
    {
        var scaler = new GradScaler();
        var before = scaler.GetState();

        Assert.ThrowsAny<ArgumentException>(() => scaler.LoadState(before with { Scale = double.PositiveInfinity, MaxScale = double.PositiveInfinity }));
        Assert.ThrowsAny<ArgumentException>(() => scaler.LoadState(before with { GrowthTracker = int.MaxValue }));
        Assert.ThrowsAny<ArgumentException>(() => scaler.LoadState(before with { Enabled = false, MinScale = 1e9 }));
        Assert.Equal(before, scaler.GetState());
    }

    /// <summary>Replaces one to three fields of <paramref name="state"/> with hostile values.</summary>
    private static GradScalerState Mutate(GradScalerState state, Random random)
    {
        for (var changes = random.Next(1, 4); changes > 0; changes--)
        {
            double d = HostileDoubles[random.Next(HostileDoubles.Length)];
            int i = HostileInts[random.Next(HostileInts.Length)];
            state = random.Next(14) switch
            {
                0 => state with { Scale = d },
                1 => state with { GrowthTracker = i },
                2 => state with { HysteresisLeft = i },
                3 => state with { SkippedSteps = HostileLongs[random.Next(HostileLongs.Length)] },
                4 => state with { InitialScale = d },
                5 => state with { GrowthFactor = d },
                6 => state with { BackoffFactor = d },
                7 => state with { GrowthInterval = i },
                8 => state with { Hysteresis = i },
                9 => state with { MinScale = d },
                10 => state with { MaxScale = d },
                11 => state with { Enabled = !state.Enabled },
                12 => state with { SkippedStepsAtMinScale = i },
                _ => state with { MaxSkippedStepsAtMinScale = i },
            };
        }

        return state;
    }
}
