namespace RaftKv.Fuzz;

/// <summary>How a parser answered one input.</summary>
public enum FuzzOutcome
{
    /// <summary>The input parsed, and every property the target checks afterwards held.</summary>
    Accepted = 0,

    /// <summary>The parser refused the input with one of its documented error types (or a false result).</summary>
    Rejected = 1,
}

/// <summary>
/// A property the target checks after a successful parse was broken (for example, a decoded value does not survive
/// encode then decode, or a recovered WAL cannot be reopened). Always a bug; never an expected outcome.
/// </summary>
public sealed class FuzzPropertyException(string message) : Exception(message);

/// <summary>One input took more memory than the target's budget allows: unbounded allocation driven by the input.</summary>
public sealed class FuzzAllocationBudgetException(string message) : Exception(message);

/// <summary>
/// One parser under fuzz. <see cref="Run"/> feeds it one input and returns whether it was accepted; a documented
/// rejection is reported either as <see cref="FuzzOutcome.Rejected"/> or as an exception whose type is in
/// <see cref="ExpectedExceptions"/>. Any other exception is a bug: AFL++ records it as a crash, and the replay tests fail.
/// </summary>
public sealed class FuzzTarget(
    string name,
    string description,
    Func<byte[], FuzzOutcome> run,
    IReadOnlyList<Type> expectedExceptions,
    Func<IEnumerable<(string Name, byte[] Bytes)>> seeds)
{
    /// <summary>Every input may allocate this much plus <see cref="AllocationBytesPerInputByte"/> per input byte.</summary>
    public const long AllocationBaseBytes = 16L * 1024 * 1024;

    public const long AllocationBytesPerInputByte = 64;

    public string Name { get; } = name;

    public string Description { get; } = description;

    /// <summary>Exception types with which the parser documents a refusal of bad input.</summary>
    public IReadOnlyList<Type> ExpectedExceptions { get; } = expectedExceptions;

    /// <summary>Small, valid inputs made by the real encoders: the seed corpus.</summary>
    public IEnumerable<(string Name, byte[] Bytes)> Seeds() => seeds();

    /// <summary>
    /// Runs one input. Documented refusals become <see cref="FuzzOutcome.Rejected"/>; anything else propagates, and so
    /// does <see cref="FuzzAllocationBudgetException"/> when the input made the parser allocate more than its budget.
    /// </summary>
    public FuzzOutcome Execute(byte[] input)
    {
        ArgumentNullException.ThrowIfNull(input);
        long before = GC.GetAllocatedBytesForCurrentThread();
        FuzzOutcome outcome;
        try
        {
            outcome = run(input);
        }
        catch (Exception exception) when (IsExpected(exception))
        {
            outcome = FuzzOutcome.Rejected;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long budget = AllocationBaseBytes + AllocationBytesPerInputByte * input.LongLength;
        if (allocated > budget)
        {
            throw new FuzzAllocationBudgetException(
                $"{Name}: a {input.Length}-byte input allocated {allocated} bytes; the budget is {budget}");
        }
        return outcome;
    }

    public bool IsExpected(Exception exception) => ExpectedExceptions.Any(type => type.IsInstanceOfType(exception));

    public override string ToString() => Name;
}
