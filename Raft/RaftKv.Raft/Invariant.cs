using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace RaftKv.Raft;

/// <summary>Thrown when the core detects a broken invariant. The node must stop: its state can no longer be trusted.</summary>
public sealed class RaftInvariantException(string message) : Exception(message);

/// <summary>
/// Invariant checks that run in every build. <c>Debug.Assert</c> vanishes in Release, and a Raft node that
/// keeps running with a broken invariant can acknowledge data it will later lose.
/// </summary>
/// <remarks>
/// An interpolated message is formatted only when the check fails (<see cref="MessageHandler"/>, as
/// <c>Debug.Assert</c> does): the checks sit on every append and apply, and formatting their messages eagerly cost
/// a string per entry on every node (about 8 % of a leader's allocations under write load).
/// </remarks>
public static class Invariant
{
    public static void Check([DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition)
        {
            throw new RaftInvariantException(message);
        }
    }

    public static void Check([DoesNotReturnIf(false)] bool condition, [InterpolatedStringHandlerArgument(nameof(condition))] ref MessageHandler message)
    {
        if (!condition)
        {
            throw new RaftInvariantException(message.ToStringAndClear());
        }
    }

    /// <summary>Builds the message of a failed check; does nothing (allocates nothing) when the check holds.</summary>
    [InterpolatedStringHandler]
    public ref struct MessageHandler
    {
        private DefaultInterpolatedStringHandler _builder;

        public MessageHandler(int literalLength, int formattedCount, bool condition, out bool shouldAppend)
        {
            shouldAppend = !condition;
            _builder = shouldAppend ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
        }

        public void AppendLiteral(string value) => _builder.AppendLiteral(value);

        public void AppendFormatted<T>(T value) => _builder.AppendFormatted(value);

        public void AppendFormatted<T>(T value, string? format) => _builder.AppendFormatted(value, format);

        public string ToStringAndClear() => _builder.ToStringAndClear();
    }
}
