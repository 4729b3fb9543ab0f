namespace RaftKv.StateMachine.Tests;

public class KvCommandCodecTests
{
    private static readonly byte[] Key = "k"u8.ToArray();

    public static TheoryData<KvCommand> AllKinds() =>
    [
        KvCommand.RegisterSession(123),
        KvCommand.KeepAlive(7, -5),
        KvCommand.Put(7, 1, 99, Key, "value"u8.ToArray()),
        KvCommand.Put(7, 2, 99, Key, Array.Empty<byte>()),
        KvCommand.Delete(7, 3, 99, Key),
        KvCommand.CompareValueAndSwap(7, 4, 99, Key, "old"u8.ToArray(), "new"u8.ToArray()),
        KvCommand.CreateIfAbsent(7, 5, 99, Key, "new"u8.ToArray()),
        KvCommand.CompareModIndexAndSwap(7, 6, 99, Key, ulong.MaxValue, "new"u8.ToArray()),
    ];

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void Every_command_kind_round_trips(KvCommand command)
    {
        byte[] bytes = command.Encode();
        Assert.Equal(command.EncodedLength, bytes.Length);
        Assert.True(KvCommand.TryDecode(bytes, out var decoded, out string error), error);
        Assert.Equal(command, decoded);
    }

    [Theory]
    [MemberData(nameof(AllKinds))]
    public void Every_truncation_and_any_trailing_byte_is_rejected(KvCommand command)
    {
        byte[] bytes = command.Encode();
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.False(KvCommand.TryDecode(bytes.AsMemory(0, length), out _, out string error), $"prefix of {length} bytes decoded");
            Assert.NotEmpty(error);
        }
        Assert.False(KvCommand.TryDecode(bytes.Append((byte)0).ToArray(), out _, out _));
    }

    [Fact]
    public void Unknown_version_type_and_condition_are_rejected()
    {
        byte[] put = KvCommand.Put(1, 1, 0, Key, Key).Encode();
        byte[] badVersion = (byte[])put.Clone();
        badVersion[0] = 2;
        Assert.False(KvCommand.TryDecode(badVersion, out _, out _));
        byte[] badType = (byte[])put.Clone();
        badType[1] = 99;
        Assert.False(KvCommand.TryDecode(badType, out _, out _));

        byte[] cas = KvCommand.CreateIfAbsent(1, 1, 0, Key, Key).Encode();
        int conditionOffset = 26 + 4 + Key.Length;
        Assert.Equal((byte)CasCondition.Absent, cas[conditionOffset]);
        cas[conditionOffset] = 0;
        Assert.False(KvCommand.TryDecode(cas, out _, out _));
    }

    [Fact]
    public void A_length_prefix_larger_than_the_input_is_rejected_not_thrown()
    {
        byte[] put = KvCommand.Put(1, 1, 0, Key, Key).Encode();
        put[26] = 0xFF;
        put[29] = 0x7F;
        Assert.False(KvCommand.TryDecode(put, out _, out _));
    }

    [Fact]
    public void Replies_round_trip_with_and_without_values()
    {
        var withValue = new KvReply { Status = KvStatus.CasFailed, Version = new KeyVersion(3, 9), Value = "cur"u8.ToArray() };
        var empty = new KvReply { Status = KvStatus.Ok, SessionId = 42 };
        var emptyValue = new KvReply { Status = KvStatus.CasFailed, Version = new KeyVersion(1, 1), Value = Array.Empty<byte>() };
        foreach (var reply in new[] { withValue, empty, emptyValue })
        {
            Assert.True(KvReply.TryDecode(reply.Encode(), out var decoded));
            Assert.Equal(reply, decoded);
        }
        Assert.True(KvReply.TryDecode(emptyValue.Encode(), out var decodedEmpty));
        Assert.True(decodedEmpty.Value.HasValue);
        byte[] bytes = withValue.Encode();
        Assert.False(KvReply.TryDecode(bytes.AsMemory(0, bytes.Length - 1), out _));
    }
}

public class KvCommandValidationTests
{
    private static readonly StateMachineOptions Options = new() { MaxKeyBytes = 8, MaxValueBytes = 16 };

    [Fact]
    public void Well_formed_commands_are_valid()
    {
        Assert.True(KvCommand.Put(1, 1, 0, new byte[8], new byte[16]).Validate(Options).IsValid);
        Assert.True(KvCommand.Put(1, 1, 0, new byte[1], Array.Empty<byte>()).Validate(Options).IsValid);
        Assert.True(KvCommand.RegisterSession(0).Validate(Options).IsValid);
    }

    [Fact]
    public void Bad_input_is_rejected_with_a_reason()
    {
        KvCommand[] bad =
        [
            KvCommand.Put(1, 1, 0, Array.Empty<byte>(), "v"u8.ToArray()),
            KvCommand.Put(1, 1, 0, new byte[9], "v"u8.ToArray()),
            KvCommand.Put(1, 1, 0, "k"u8.ToArray(), new byte[17]),
            KvCommand.Put(0, 1, 0, "k"u8.ToArray(), "v"u8.ToArray()),
            KvCommand.Put(1, 0, 0, "k"u8.ToArray(), "v"u8.ToArray()),
            KvCommand.CompareValueAndSwap(1, 1, 0, "k"u8.ToArray(), new byte[17], "v"u8.ToArray()),
            KvCommand.Delete(1, 1, 0, Array.Empty<byte>()),
            KvCommand.RegisterSession(0) with { SessionId = 3 },
            new KvCommand { Type = KvCommandType.CompareAndSwap, SessionId = 1, Sequence = 1, Key = "k"u8.ToArray() },
        ];
        foreach (var command in bad)
        {
            var result = command.Validate(Options);
            Assert.False(result.IsValid, command.ToString());
            Assert.NotEmpty(result.Reason);
        }
    }

    [Fact]
    public void Options_validation_reports_errors_without_throwing()
    {
        Assert.Empty(new StateMachineOptions().Validate());
        Assert.Empty(Driver.SmallOptions.Validate());
        var errors = new StateMachineOptions { MaxKeyBytes = 0, LogPageSizeBytes = 1000, SessionTimeoutMs = 0 }.Validate();
        Assert.True(errors.Count >= 3);
    }
}
