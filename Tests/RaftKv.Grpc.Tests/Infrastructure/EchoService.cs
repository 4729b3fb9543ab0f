using System.Collections.Concurrent;
using Google.Protobuf;
using RaftKv.Grpc.Server;
using RaftKv.Grpc.Tests.Protos;

namespace RaftKv.Grpc.Tests.Infrastructure;

/// <summary>The echo service of Protos/test.proto, implemented on the RaftKv.Grpc server API.</summary>
public sealed class EchoService
{
    public const string ServiceName = "raftkv.grpc.test.Echo";

    public static readonly GrpcMethod<EchoRequest, EchoReply> Unary =
        new(MethodType.Unary, ServiceName, "Unary", EchoRequest.Parser, EchoReply.Parser);

    public static readonly GrpcMethod<EchoRequest, EchoReply> ServerStream =
        new(MethodType.ServerStreaming, ServiceName, "ServerStream", EchoRequest.Parser, EchoReply.Parser);

    public static readonly GrpcMethod<EchoRequest, EchoReply> ClientStream =
        new(MethodType.ClientStreaming, ServiceName, "ClientStream", EchoRequest.Parser, EchoReply.Parser);

    public static readonly GrpcMethod<EchoRequest, EchoReply> Duplex =
        new(MethodType.DuplexStreaming, ServiceName, "Duplex", EchoRequest.Parser, EchoReply.Parser);

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _observations = new();

    /// <summary>Completes when the handler for the request with this message starts waiting for cancellation.</summary>
    public Task WaitStarted(string requestMessage) => Observation("started:" + requestMessage).Task;

    /// <summary>Completes when a handler waiting on the request with this message saw its call cancelled.</summary>
    public Task CancellationObserved(string requestMessage) => Observation("cancelled:" + requestMessage).Task;

    public GrpcServiceDefinition Definition() => new GrpcServiceDefinition()
        .AddUnary(Unary, UnaryAsync)
        .AddServerStreaming(ServerStream, ServerStreamAsync)
        .AddClientStreaming(ClientStream, ClientStreamAsync)
        .AddDuplexStreaming(Duplex, DuplexAsync);

    private async Task<EchoReply> UnaryAsync(EchoRequest request, ServerCallContext context)
    {
        await MaybeWaitForCancellationAsync(request, context);
        ThrowIfRequested(request);
        if (request.Message == "throw-plain-exception")
        {
            throw new InvalidOperationException("secret internal detail");
        }

        return Reply(request, context, index: 0);
    }

    private async Task ServerStreamAsync(EchoRequest request, IGrpcStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        for (int i = 0; i < request.Count; i++)
        {
            await responseStream.WriteAsync(new EchoReply { Message = $"{request.Message}#{i}", Index = i }, context.CancellationToken);
        }

        await MaybeWaitForCancellationAsync(request, context);
        ThrowIfRequested(request);
    }

    private static async Task<EchoReply> ClientStreamAsync(IAsyncEnumerable<EchoRequest> requestStream, ServerCallContext context)
    {
        var messages = new List<string>();
        long payloadBytes = 0;
        await foreach (EchoRequest request in requestStream.WithCancellation(context.CancellationToken))
        {
            ThrowIfRequested(request);
            messages.Add(request.Message);
            payloadBytes += request.Payload.Length;
        }

        return new EchoReply { Message = string.Join(",", messages), Index = messages.Count, Metadata = payloadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) };
    }

    private static async Task DuplexAsync(IAsyncEnumerable<EchoRequest> requestStream, IGrpcStreamWriter<EchoReply> responseStream, ServerCallContext context)
    {
        int index = 0;
        await foreach (EchoRequest request in requestStream.WithCancellation(context.CancellationToken))
        {
            ThrowIfRequested(request);
            await responseStream.WriteAsync(new EchoReply { Message = request.Message, Index = index++, Payload = request.Payload }, context.CancellationToken);
        }
    }

    private static EchoReply Reply(EchoRequest request, ServerCallContext context, int index) => new()
    {
        Message = request.Message,
        Index = index,
        // count > 0 asks for a reply payload of that many bytes (large-message tests).
        Payload = request.Count > 0 ? ByteString.CopyFrom(new byte[request.Count]) : request.Payload,
        Peer = context.Peer,
        Metadata = context.RequestHeaders["x-test"].ToString(),
        HasDeadline = context.Deadline is not null,
    };

    private async Task MaybeWaitForCancellationAsync(EchoRequest request, ServerCallContext context)
    {
        if (!request.WaitForCancellation)
        {
            return;
        }

        Observation("started:" + request.Message).TrySetResult();
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            Observation("cancelled:" + request.Message).TrySetResult();
            throw;
        }
    }

    private TaskCompletionSource Observation(string key)
        => _observations.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    private static void ThrowIfRequested(EchoRequest request)
    {
        if (request.FailWithStatus != 0)
        {
            throw new RpcException((StatusCode)request.FailWithStatus, request.FailMessage);
        }
    }
}
