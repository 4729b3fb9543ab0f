using Google.Protobuf;
using RaftKv.Client.Protos;
using RaftKv.ClientGateway;
using RaftKv.StateMachine;

namespace RaftKv.Fuzz.Targets;

/// <summary>
/// Client requests as the gateway receives them: [selector u8][protobuf bytes], the selector choosing the request
/// type (KeepAlive, Put, Delete, CompareAndSwap, Get, Scan). The bytes are parsed with the generated parser and
/// checked by <see cref="KvRequestValidation"/>; a malformed message must surface as
/// <see cref="InvalidProtocolBufferException"/>, an invalid request as an invalid <see cref="KvValidation"/> with a
/// reason. A write the validation accepts must encode to a command the state machine decodes and accepts too.
/// </summary>
public static class GatewayRequestTarget
{
    public const byte KeepAlive = 0;
    public const byte Put = 1;
    public const byte Delete = 2;
    public const byte CompareAndSwap = 3;
    public const byte Get = 4;
    public const byte Scan = 5;

    private static readonly StateMachineOptions Limits = new() { MaxKeyBytes = 64, MaxValueBytes = 256 };

    public static FuzzOutcome Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return FuzzOutcome.Rejected;
        }
        ReadOnlySpan<byte> body = input.AsSpan(1);
        (KvValidation validation, KvCommand? command) = (input[0] % 6) switch
        {
            KeepAlive => Check(KvRequestValidation.Validate(KeepAliveRequest.Parser.ParseFrom(body), Limits), null),
            Put => PutCommand(PutRequest.Parser.ParseFrom(body)),
            Delete => DeleteCommand(DeleteRequest.Parser.ParseFrom(body)),
            CompareAndSwap => CasCommand(CompareAndSwapRequest.Parser.ParseFrom(body)),
            Get => Check(KvRequestValidation.Validate(GetRequest.Parser.ParseFrom(body), Limits), null),
            _ => Check(KvRequestValidation.Validate(ScanRequest.Parser.ParseFrom(body), Limits), null),
        };
        if (!validation.IsValid)
        {
            return string.IsNullOrEmpty(validation.Reason)
                ? throw new FuzzPropertyException("an invalid request came without a reason")
                : FuzzOutcome.Rejected;
        }
        if (command is not null)
        {
            // What the gateway accepts, Apply must accept too: otherwise a client is told its write is fine and the
            // state machine then refuses it.
            if (!KvCommand.TryDecode(command.Encode(), out KvCommand? decoded, out string error) || !decoded.Equals(command))
            {
                throw new FuzzPropertyException($"an accepted {command.Type} does not decode: {error}");
            }
            if (!decoded.Validate(Limits).IsValid)
            {
                throw new FuzzPropertyException($"an accepted {command.Type} is invalid after decoding");
            }
        }
        return FuzzOutcome.Accepted;
    }

    private static (KvValidation, KvCommand?) Check(KvValidation validation, KvCommand? command) => (validation, command);

    private static (KvValidation, KvCommand?) PutCommand(PutRequest request) =>
        (KvRequestValidation.Validate(request, Limits), KvCommand.Put(request.SessionId, request.Sequence, 1, request.Key.Memory, request.Value.Memory));

    private static (KvValidation, KvCommand?) DeleteCommand(DeleteRequest request) =>
        (KvRequestValidation.Validate(request, Limits), KvCommand.Delete(request.SessionId, request.Sequence, 1, request.Key.Memory));

    private static (KvValidation, KvCommand?) CasCommand(CompareAndSwapRequest request)
    {
        KvRequestValidation.TryBuild(request, 1, out KvCommand? command);
        return (KvRequestValidation.Validate(request, Limits), command);
    }

    public static IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        ByteString key = ByteString.CopyFromUtf8("user/42");
        ByteString value = ByteString.CopyFromUtf8("{\"name\":\"ada\"}");
        yield return ("keep-alive", [KeepAlive, .. new KeepAliveRequest { SessionId = 9 }.ToByteArray()]);
        yield return ("put", [Put, .. new PutRequest { SessionId = 9, Sequence = 1, Key = key, Value = value }.ToByteArray()]);
        yield return ("delete", [Delete, .. new DeleteRequest { SessionId = 9, Sequence = 2, Key = key }.ToByteArray()]);
        yield return ("cas-value", [CompareAndSwap, .. new CompareAndSwapRequest { SessionId = 9, Sequence = 3, Key = key, ExpectedValue = value, NewValue = value }.ToByteArray()]);
        yield return ("cas-absent", [CompareAndSwap, .. new CompareAndSwapRequest { SessionId = 9, Sequence = 4, Key = key, ExpectedAbsent = true, NewValue = value }.ToByteArray()]);
        yield return ("cas-mod-revision", [CompareAndSwap, .. new CompareAndSwapRequest { SessionId = 9, Sequence = 5, Key = key, ExpectedModRevision = 17, NewValue = value }.ToByteArray()]);
        yield return ("get", [Get, .. new GetRequest { Key = key, Consistency = Consistency.Stale }.ToByteArray()]);
        yield return ("scan", [Scan, .. new ScanRequest { Prefix = ByteString.CopyFromUtf8("user/"), Limit = 10 }.ToByteArray()]);
    }
}
