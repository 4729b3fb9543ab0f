namespace RaftKv.Grpc;

/// <summary>Header names and values fixed by the gRPC over HTTP/2 protocol (PROTOCOL-HTTP2.md).</summary>
public static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string ContentTypeProto = "application/grpc+proto";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";

    /// <summary>Only identity encoding is implemented; compressed frames are rejected.</summary>
    public const string IdentityEncoding = "identity";

    public const int DefaultMaxMessageSizeBytes = 4 * 1024 * 1024;

    /// <summary>
    /// True for "application/grpc" and "application/grpc+proto", with or without parameters.
    /// Other "+suffix" codecs (json, ...) are not protobuf and are refused.
    /// </summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return false;
        }

        ReadOnlySpan<char> mediaType = contentType.AsSpan();
        int parameters = mediaType.IndexOf(';');
        if (parameters >= 0)
        {
            mediaType = mediaType[..parameters];
        }

        mediaType = mediaType.Trim();
        return mediaType.Equals(ContentType, StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals(ContentTypeProto, StringComparison.OrdinalIgnoreCase);
    }
}
