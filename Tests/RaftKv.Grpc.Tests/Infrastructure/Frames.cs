using System.Buffers;
using Google.Protobuf;

namespace RaftKv.Grpc.Tests.Infrastructure;

public static class Frames
{
    public static byte[] Of(IMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        GrpcFraming.WriteMessage(buffer, message, int.MaxValue);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The grpc-status and decoded grpc-message of a raw response, from its headers (trailers-only) or trailers.</summary>
    public static (StatusCode Status, string Message) StatusOf(HttpResponseMessage response)
    {
        foreach (System.Net.Http.Headers.HttpHeaders headers in new System.Net.Http.Headers.HttpHeaders[] { response.Headers, response.TrailingHeaders })
        {
            if (headers.TryGetValues(GrpcProtocol.StatusHeader, out IEnumerable<string>? status))
            {
                string? message = headers.TryGetValues(GrpcProtocol.MessageHeader, out IEnumerable<string>? values) ? values.Single() : null;
                return ((StatusCode)int.Parse(status.Single(), System.Globalization.CultureInfo.InvariantCulture), GrpcStatusMessage.Decode(message));
            }
        }

        throw new Xunit.Sdk.XunitException("The response carried no grpc-status.");
    }
}
