using System;
using System.Collections.Generic;
using Microsoft.Extensions.Logging;

namespace PrecisionDsl.Runtime.Tests.Support;

/// <summary>Records what the policy logs; installed as <see cref="PrecisionPolicy.Logger"/> for a test and removed on dispose.</summary>
internal sealed class CapturingLogger : ILogger, IDisposable
{
    private readonly ILogger previous;

    public CapturingLogger()
    {
        previous = PrecisionPolicy.Logger;
        PrecisionPolicy.Logger = this;
    }

    public List<(LogLevel Level, string Message)> Messages { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Messages.Add((logLevel, formatter(state, exception)));

    public void Dispose() => PrecisionPolicy.Logger = previous;
}
