using RaftKv.Client.Protos;
using RaftKv.StateMachine;

namespace RaftKv.ClientGateway;

/// <summary>
/// The gateway's checks of a parsed client request, as pure functions of the request and the state machine's limits:
/// no node, session gate, clock or transport. Writes become the <see cref="KvCommand"/> that would be proposed
/// (timestamp 0, as the service validates before it takes the timestamp inside the session gate) and are checked
/// with <see cref="KvCommand.Validate"/>, the same check Apply repeats; reads check their key or prefix and
/// consistency level. The fuzz target <c>gateway-request</c> drives these behind the protobuf parse.
/// </summary>
/// <remarks><see cref="KvGatewayService"/> calls these before it proposes or reads, so the fuzzed checks are the served ones.</remarks>
public static class KvRequestValidation
{
    public static KvValidation Validate(KeepAliveRequest request, StateMachineOptions limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.SessionId == 0
            ? KvValidation.Invalid("KeepAlive needs a session id")
            : KvCommand.KeepAlive(request.SessionId, 0).Validate(limits);
    }

    public static KvValidation Validate(PutRequest request, StateMachineOptions limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        return KvCommand.Put(request.SessionId, request.Sequence, 0, request.Key.Memory, request.Value.Memory).Validate(limits);
    }

    public static KvValidation Validate(DeleteRequest request, StateMachineOptions limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        return KvCommand.Delete(request.SessionId, request.Sequence, 0, request.Key.Memory).Validate(limits);
    }

    /// <summary>The command a CompareAndSwap request proposes, or null with the reason it is invalid.</summary>
    public static KvValidation TryBuild(CompareAndSwapRequest request, long timestampMs, out KvCommand? command)
    {
        ArgumentNullException.ThrowIfNull(request);
        command = request.ExpectedCase switch
        {
            CompareAndSwapRequest.ExpectedOneofCase.ExpectedValue => KvCommand.CompareValueAndSwap(
                request.SessionId, request.Sequence, timestampMs, request.Key.Memory, request.ExpectedValue.Memory, request.NewValue.Memory),
            CompareAndSwapRequest.ExpectedOneofCase.ExpectedAbsent when request.ExpectedAbsent => KvCommand.CreateIfAbsent(
                request.SessionId, request.Sequence, timestampMs, request.Key.Memory, request.NewValue.Memory),
            CompareAndSwapRequest.ExpectedOneofCase.ExpectedModRevision => KvCommand.CompareModIndexAndSwap(
                request.SessionId, request.Sequence, timestampMs, request.Key.Memory, request.ExpectedModRevision, request.NewValue.Memory),
            _ => null,
        };
        if (command is not null)
        {
            return KvValidation.Valid;
        }
        return request.ExpectedCase == CompareAndSwapRequest.ExpectedOneofCase.ExpectedAbsent
            ? KvValidation.Invalid("expected_absent must be true when set")
            : KvValidation.Invalid("CompareAndSwap needs one of expected_value, expected_absent or expected_mod_revision");
    }

    public static KvValidation Validate(CompareAndSwapRequest request, StateMachineOptions limits)
    {
        KvValidation built = TryBuild(request, 0, out KvCommand? command);
        return command is null ? built : command.Validate(limits);
    }

    public static KvValidation Validate(GetRequest request, StateMachineOptions limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(limits);
        if (request.Key.IsEmpty) return KvValidation.Invalid("the key is empty");
        if (request.Key.Length > limits.MaxKeyBytes) return KvValidation.Invalid($"the key is {request.Key.Length} bytes; the limit is {limits.MaxKeyBytes}");
        return Validate(request.Consistency);
    }

    public static KvValidation Validate(ScanRequest request, StateMachineOptions limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(limits);
        if (request.Prefix.Length > limits.MaxKeyBytes)
        {
            return KvValidation.Invalid($"the prefix is {request.Prefix.Length} bytes; the limit is {limits.MaxKeyBytes}");
        }
        return Validate(request.Consistency);
    }

    public static KvValidation Validate(Consistency consistency) => consistency is Consistency.Linearizable or Consistency.Stale
        ? KvValidation.Valid
        : KvValidation.Invalid($"unknown consistency {(int)consistency}");
}
