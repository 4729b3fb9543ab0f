using Microsoft.Extensions.Logging;

namespace RaftKv.Silo.ClusterPage;

/// <summary>The last warnings and errors this silo logged, for the cluster page (a logger provider with a bounded ring).</summary>
public sealed class RecentProblems : ILoggerProvider
{
    public const int Capacity = 50;
    private const int MaxMessageLength = 300;

    private readonly Lock _lock = new();
    private readonly LinkedList<Problem> _problems = new();
    private readonly TimeProvider _time;

    public RecentProblems(TimeProvider time) => _time = time;

    public sealed record Problem(DateTimeOffset At, string Level, string Category, string Message);

    public IReadOnlyList<Problem> Snapshot()
    {
        lock (_lock) return [.. _problems];
    }

    public ILogger CreateLogger(string categoryName) => new ProblemLogger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(LogLevel level, string category, string message)
    {
        string firstLine = message.Split('\n', 2)[0].Trim();
        if (firstLine.Length > MaxMessageLength) firstLine = firstLine[..MaxMessageLength] + "…";
        var problem = new Problem(_time.GetUtcNow(), level.ToString(), category, firstLine);
        lock (_lock)
        {
            _problems.AddFirst(problem);
            while (_problems.Count > Capacity) _problems.RemoveLast();
        }
    }

    private sealed class ProblemLogger(RecentProblems owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string message = formatter(state, exception);
            if (exception is not null) message += $" ({exception.GetType().Name}: {exception.Message})";
            owner.Add(logLevel, category, message);
        }
    }
}
