using System.Buffers.Binary;
using System.Numerics;

namespace RaftKv.Storage;

/// <summary>
/// CRC32C (Castagnoli) over <see cref="BitOperations.Crc32C(uint, ulong)"/>, which uses the SSE4.2 / ARMv8 CRC
/// instruction where available. Conventional pre- and post-inversion, so the result matches other CRC32C tools.
/// </summary>
public static class Crc32C
{
    /// <summary>The running state before any byte; pass it to <see cref="Append"/> and the result to <see cref="Finish"/>.</summary>
    public const uint InitialState = 0xFFFF_FFFF;

    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(InitialState, data));

    public static uint Append(uint state, ReadOnlySpan<byte> data)
    {
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }
        for (; i < data.Length; i++)
        {
            state = BitOperations.Crc32C(state, data[i]);
        }
        return state;
    }

    public static uint Finish(uint state) => ~state;
}
