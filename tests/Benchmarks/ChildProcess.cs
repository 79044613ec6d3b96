using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;

namespace PrecisionDsl.Benchmarks;

/// <summary>
/// Runs this benchmark program again in a fresh process (memory is measured per process: libtorch's allocators
/// keep what a previous variant freed): through the dotnet host when that is how this one was started, else through
/// the program's own executable (also when this code runs inside a test host).
/// </summary>
internal static class ChildProcess
{
    /// <summary>The child's exit code and standard output; its standard error goes to this process's.</summary>
    public static (int ExitCode, string Output) Run(IEnumerable<string> arguments)
    {
        string program = typeof(ChildProcess).Assembly.Location;
        string self = Environment.ProcessPath!;
        bool viaHost = Path.GetFileNameWithoutExtension(self) == "dotnet";
        var start = new ProcessStartInfo(viaHost ? self : Path.ChangeExtension(program, null)) { RedirectStandardOutput = true };
        if (viaHost) start.ArgumentList.Add(program);
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using var child = Process.Start(start)!;
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        return (child.ExitCode, output);
    }
}
