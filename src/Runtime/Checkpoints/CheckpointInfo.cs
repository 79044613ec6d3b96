using System.Collections.Generic;

namespace PrecisionDsl;

/// <summary>What <see cref="TrainingCheckpoint.Load"/> restored besides the model, optimizer and scaler.</summary>
/// <param name="Step">The step passed to <see cref="TrainingCheckpoint.Save"/>.</param>
/// <param name="Metadata">The metadata passed to <see cref="TrainingCheckpoint.Save"/> (empty when none was).</param>
public sealed record CheckpointInfo(long Step, IReadOnlyDictionary<string, string> Metadata);
