using System;
using PrecisionDsl;
using PrecisionDsl.CheckpointCrashChild;
using TorchSharp;

// usage: dotnet PrecisionDsl.CheckpointCrashChild.dll <directory>
// Resumes from the newest checkpoint in <directory> (if any), then trains and checkpoints every step
// until killed. Prints "ready <step> <half dtype>" once the first checkpoint of this process is on disk.
const int KeepLast = 3;
var directory = args[0];
torch.set_num_threads(1); // intra-op threads could change float summation order between processes
var run = new CrashTraining();
var latest = TrainingCheckpoint.FindLatest(directory);
var step = latest is null ? 0 : TrainingCheckpoint.Load(latest, run.Model, run.Optimizer, run.Scaler).Step;
for (var first = true; ; first = false)
{
    run.Train(++step);
    TrainingCheckpoint.SaveNumbered(directory, run.Model, run.Optimizer, run.Scaler, step, KeepLast);
    if (first)
    {
        Console.WriteLine($"ready {step} {PrecisionPolicy.DtypeFor(PrecisionKind.Fp16, DeviceType.CPU)}");
    }
}
