using RaftKv.StateMachine;

namespace RaftKv.Fuzz.Targets;

/// <summary>
/// The KV codecs: [selector u8][bytes]. An even selector decodes a <see cref="KvCommand"/> (what Apply reads from a
/// committed log entry), an odd one a <see cref="KvReply"/> (what a gateway reads back). Both report malformed
/// input as false and must never throw. A decoded value must validate without throwing and survive encode then
/// decode unchanged, byte for byte.
/// </summary>
public static class KvCodecTarget
{
    public const byte Command = 0;
    public const byte Reply = 1;

    private static readonly StateMachineOptions Limits = new();

    public static FuzzOutcome Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return FuzzOutcome.Rejected;
        }
        ReadOnlyMemory<byte> body = input.AsMemory(1);
        if (input[0] % 2 == Command)
        {
            if (!KvCommand.TryDecode(body, out KvCommand? command, out string error))
            {
                return string.IsNullOrEmpty(error) ? throw new FuzzPropertyException("TryDecode failed without a reason") : FuzzOutcome.Rejected;
            }
            command.Validate(Limits);
            _ = command.IsWrite;
            byte[] encoded = command.Encode();
            if (!encoded.AsSpan().SequenceEqual(body.Span))
            {
                throw new FuzzPropertyException($"command {command.Type} re-encodes to {encoded.Length} different bytes (input {body.Length})");
            }
            if (!KvCommand.TryDecode(encoded, out KvCommand? again, out _) || !again.Equals(command))
            {
                throw new FuzzPropertyException($"command {command.Type} does not survive an encode/decode round trip");
            }
            return FuzzOutcome.Accepted;
        }
        if (!KvReply.TryDecode(body, out KvReply? reply))
        {
            return FuzzOutcome.Rejected;
        }
        _ = reply.ToString();
        byte[] replyBytes = reply.Encode();
        if (!replyBytes.AsSpan().SequenceEqual(body.Span) || !KvReply.TryDecode(replyBytes, out KvReply? replyAgain) || !replyAgain.Equals(reply))
        {
            throw new FuzzPropertyException($"reply {reply} does not survive an encode/decode round trip");
        }
        return FuzzOutcome.Accepted;
    }

    public static IEnumerable<(string Name, byte[] Bytes)> Seeds()
    {
        byte[] key = "user/42"u8.ToArray();
        byte[] value = "{\"name\":\"ada\"}"u8.ToArray();
        (string, KvCommand)[] commands =
        [
            ("register-session", KvCommand.RegisterSession(1_700_000_000_000)),
            ("keep-alive", KvCommand.KeepAlive(9, 1_700_000_000_001)),
            ("put", KvCommand.Put(9, 1, 1_700_000_000_002, key, value)),
            ("delete", KvCommand.Delete(9, 2, 1_700_000_000_003, key)),
            ("cas-value", KvCommand.CompareValueAndSwap(9, 3, 1_700_000_000_004, key, value, "new"u8.ToArray())),
            ("cas-absent", KvCommand.CreateIfAbsent(9, 4, 1_700_000_000_005, key, value)),
            ("cas-mod-index", KvCommand.CompareModIndexAndSwap(9, 5, 1_700_000_000_006, key, 17, value)),
        ];
        foreach ((string name, KvCommand command) in commands)
        {
            yield return ("command-" + name, [Command, .. command.Encode()]);
        }
        yield return ("reply-ok", [Reply, .. new KvReply { Status = KvStatus.Ok, SessionId = 9, Version = new KeyVersion(3, 8) }.Encode()]);
        yield return ("reply-value", [Reply, .. new KvReply { Status = KvStatus.CasFailed, SessionId = 9, Version = new KeyVersion(3, 8), Value = value }.Encode()]);
        yield return ("reply-error", [Reply, .. KvReply.Error(KvStatus.StaleSequence, "stale").Encode()]);
    }
}
