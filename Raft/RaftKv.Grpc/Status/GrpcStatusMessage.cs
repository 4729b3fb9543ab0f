using System.Buffers;
using System.Text;

namespace RaftKv.Grpc;

/// <summary>
/// Encoding of the <c>grpc-message</c> trailer. The gRPC HTTP/2 spec percent-encodes the
/// UTF-8 bytes of the message: every byte outside printable ASCII (0x20-0x7E), and '%'
/// itself, is written as "%XX". Decoding is lenient: a malformed escape is kept verbatim,
/// because a status message must never make a call fail a second time.
/// </summary>
public static class GrpcStatusMessage
{
    public static string Encode(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!NeedsEncoding(message))
        {
            return message;
        }

        byte[] utf8 = Encoding.UTF8.GetBytes(message);
        var builder = new StringBuilder(utf8.Length * 3);
        foreach (byte b in utf8)
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
            }
        }

        return builder.ToString();
    }

    public static string Decode(string? encoded)
    {
        if (string.IsNullOrEmpty(encoded))
        {
            return string.Empty;
        }

        if (!encoded.Contains('%', StringComparison.Ordinal))
        {
            return encoded;
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent(encoded.Length);
        try
        {
            int length = 0;
            for (int i = 0; i < encoded.Length; i++)
            {
                char c = encoded[i];
                if (c == '%' && i + 2 < encoded.Length && TryHex(encoded[i + 1], out int high) && TryHex(encoded[i + 2], out int low))
                {
                    rented[length++] = (byte)((high << 4) | low);
                    i += 2;
                }
                else
                {
                    // Header values are ASCII; anything else was not produced by a conforming peer,
                    // so it is passed through as a replacement-safe byte.
                    rented[length++] = c <= 0x7F ? (byte)c : (byte)'?';
                }
            }

            return Encoding.UTF8.GetString(rented, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static bool NeedsEncoding(string message)
    {
        foreach (char c in message)
        {
            if (c is < (char)0x20 or > (char)0x7E or '%')
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }

    private const string HexUpper = "0123456789ABCDEF";
}
