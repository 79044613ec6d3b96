using System;
using System.Collections.Generic;
using Microsoft.Extensions.Logging;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>
/// Records what the runtime logs: the <see cref="PrecisionSettings.Logger"/> of <see cref="PrecisionPolicy.Current"/> for the
/// calling test (its execution context only) until dispose, and of the models and scalers created meanwhile.
/// </summary>
internal sealed class CapturingLogger : ILogger, IDisposable
{
    private readonly IDisposable scope;

    public CapturingLogger() => scope = PrecisionPolicy.Use(PrecisionPolicy.Current with { Logger = this });

    public List<(LogLevel Level, string Message)> Messages { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Messages.Add((logLevel, formatter(state, exception)));

    public void Dispose() => scope.Dispose();
}
