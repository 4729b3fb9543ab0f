using System.Text;
using RaftKv.Raft;
using RaftKv.StateMachine;

namespace RaftKv.Simulation;

public sealed partial class ClusterSimulation
{
    /// <summary>Per-key budget of the linearizability search; a key beyond it is reported as given up, never as passed.</summary>
    private const long MaxLinearizabilityStatesPerKey = 200_000;

    private readonly SimulatedClient[] _clients;
    private int _operationsStarted;
    private int _nextOperationId = 1;

    /// <summary>Every client operation of the safety phase was started, and every client has its answer.</summary>
    public bool ClientOperationsDone => _operationsStarted >= _options.MaxCommands && _clients.All(c => c.Current is null);

    // ---- clients -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Each client without an operation may start one (until the quota is used, and only while faults are on); a
    /// client whose request or reply was lost, or that got a retryable error, sends again when its timer expires:
    /// a write with the same session and sequence number, so that the session table answers a retry of a command
    /// that was applied after all.
    /// </summary>
    private void ClientsStep()
    {
        foreach (SimulatedClient client in _clients)
        {
            if (client.Current is null)
            {
                if (!_faultsOn || _operationsStarted >= _options.MaxCommands || !_random.Chance(0.5)) continue;
                client.Current = NextOperation(client);
                client.AttemptsOfCurrent = 0;
                _operationsStarted++;
                Send(client);
            }
            else if (NowMs >= client.RetryAtMs)
            {
                ClientChecks.Retries++;
                Send(client);
            }
        }
    }

    private ClientOp NextOperation(SimulatedClient client)
    {
        if (client.SessionId == 0) return new ClientOp(ClientOpKind.RegisterSession, "", null, null, 0, NowMs);
        string key = $"k{_random.Next(0, _options.KeyCount)}";
        if (_random.Chance(_options.ReadProbability))
        {
            return new ClientOp(_random.Chance(_options.StaleReadShare) ? ClientOpKind.StaleRead : ClientOpKind.Read, key, null, null, 0, NowMs);
        }
        ulong sequence = ++client.LastSequence;
        string value = $"c{client.Id}s{client.SessionId}q{sequence}";
        ClientChecks.OnValueWritten(value); // from now on a stale read may see it
        ClientOpKind kind = _random.Chance(0.5) ? ClientOpKind.Put : ClientOpKind.Cas;
        return new ClientOp(kind, key, value, kind == ClientOpKind.Cas ? client.LastSeen.GetValueOrDefault(key) : null, sequence, NowMs);
    }

    private void Send(SimulatedClient client)
    {
        ClientOp op = client.Current!;
        client.Attempt++;
        client.AttemptsOfCurrent++;
        client.RetryAtMs = NowMs + _options.ClientTimeoutMs;
        // Writes go to the leader the client believes in; reads to any node (followers forward ReadIndex); after a
        // failure, anywhere.
        // Half of the reads go where the client last found a leader, like a gateway that routes to the leader it knows.
        bool anyNode = client.LeaderGuess == 0 || (op.Kind is ClientOpKind.Read or ClientOpKind.StaleRead ? _random.Chance(0.5) : client.AttemptsOfCurrent > 1 && _random.Chance(0.3));
        int target = anyNode ? _random.Next(0, _nodes.Length) : (int)client.LeaderGuess - 1;
        if (_random.Chance(_options.ClientMessageDropRate)) return;
        Schedule(_random.Next(_options.MinLatencyMs, _options.MaxLatencyMs + 1), new ClientRequestArrives(target, new ClientRequest(client.Id, client.Attempt)));
    }

    /// <summary>
    /// The simulated gateway: a stale read is served from the node's applied state; a linearizable read asks the
    /// driver for a confirmed read index (<see cref="RaftKv.Node.RaftDriver.ConfirmReadIndexAsync"/>); a write is
    /// proposed through the driver. The driver's tasks are collected after each of its steps.
    /// </summary>
    private void OnClientRequest(int nodeIndex, ClientRequest request)
    {
        SimulatedNode node = _nodes[nodeIndex];
        SimulatedClient client = _clients[request.Client - 1];
        if (!node.IsUp || client.Current is not { } op || client.Attempt != request.Attempt) return;
        switch (op.Kind)
        {
            case ClientOpKind.StaleRead:
                Respond(node, request, new ClientResponse(ReadValue: ReadValue(node.StateMachine!, op.Key)));
                return;
            case ClientOpKind.Read:
                // A linearizable read must return at least every write committed before it was asked.
                node.PendingRequests.Add((request, node.Driver!.ConfirmReadIndexAsync(CancellationToken.None), _checker.MaxCommitted));
                return;
        }
        KvCommand command = op.Kind switch
        {
            ClientOpKind.RegisterSession => KvCommand.RegisterSession(NowMs),
            ClientOpKind.Put => KvCommand.Put(client.SessionId, op.Sequence, NowMs, Bytes(op.Key), ValueBytes(op.Value!)),
            _ => op.Expected is null
                ? KvCommand.CreateIfAbsent(client.SessionId, op.Sequence, NowMs, Bytes(op.Key), ValueBytes(op.Value!))
                : KvCommand.CompareValueAndSwap(client.SessionId, op.Sequence, NowMs, Bytes(op.Key), ValueBytes(op.Expected), ValueBytes(op.Value!)),
        };
        node.PendingRequests.Add((request, node.Driver!.ProposeAsync(command.Encode(), CancellationToken.None), 0));
    }

    /// <summary>After a step of the node: the gateway answers every client request whose driver task completed.</summary>
    private void CollectClientResponses(SimulatedNode node)
    {
        List<(ClientRequest Request, Task Task, ulong CommittedBefore)> pending = node.PendingRequests;
        for (int i = 0; i < pending.Count; i++)
        {
            (ClientRequest request, Task task, ulong committedBefore) = pending[i];
            if (!task.IsCompleted) continue;
            pending.RemoveAt(i--);
            if (!task.IsCompletedSuccessfully)
            {
                Exception error = task.Exception?.InnerException ?? new OperationCanceledException();
                ulong hint = error switch
                {
                    RaftKv.Node.NotLeaderException notLeader => notLeader.LeaderHint,
                    RaftKv.Node.UnavailableException unavailable => unavailable.LeaderHint,
                    _ => 0,
                };
                Respond(node, request, new ClientResponse(Error: error.Message, LeaderHint: hint));
                continue;
            }
            switch (task)
            {
                case Task<ulong> read:
                    _readsServed++;
                    if (read.Result < committedBefore)
                    {
                        _checker.Violation($"linearizability: a read on node {node.Id} got read index {read.Result}, " +
                                           $"but index {committedBefore} had committed before it was asked");
                    }
                    SimulatedClient client = _clients[request.Client - 1];
                    if (client.Current is { } op && client.Attempt == request.Attempt)
                    {
                        Respond(node, request, new ClientResponse(ReadValue: ReadValue(node.StateMachine!, op.Key)));
                    }
                    break;
                case Task<ReadOnlyMemory<byte>> write:
                    Respond(node, request, new ClientResponse(Reply: write.Result.ToArray()));
                    break;
            }
        }
    }

    private void Respond(SimulatedNode node, ClientRequest request, ClientResponse response)
    {
        if (_random.Chance(_options.ClientMessageDropRate)) return; // a lost reply: the client times out and retries
        Schedule(ReplyDelay(node) + _random.Next(_options.MinLatencyMs, _options.MaxLatencyMs + 1), new ClientResponseArrives(request, response with { NodeId = node.Id }));
    }

    private void OnClientResponse(ClientRequest request, ClientResponse response)
    {
        SimulatedClient client = _clients[request.Client - 1];
        if (client.Current is not { } op || client.Attempt != request.Attempt) return; // an answer to an attempt given up on
        if (response.Error is not null)
        {
            client.LeaderGuess = response.LeaderHint;
            client.RetryAtMs = NowMs + _random.Next(1, 2 * _options.TickIntervalMs + 1);
            return;
        }
        if (op.Kind is ClientOpKind.Read or ClientOpKind.StaleRead)
        {
            client.LastSeen[op.Key] = response.ReadValue;
            if (op.Kind == ClientOpKind.StaleRead) ClientChecks.OnStaleRead(response.NodeId, op.Key, response.ReadValue);
            else Record(client, op, OpKind.Get, Outcome.Ok, value: response.ReadValue, note: $"node {response.NodeId}");
            client.Current = null;
            return;
        }
        client.LeaderGuess = response.NodeId;
        if (!KvReply.TryDecode(response.Reply, out KvReply? reply))
        {
            _checker.Violation($"client {client.Id}: undecodable reply from node {response.NodeId}");
            return;
        }
        client.Current = null;
        if (op.Kind == ClientOpKind.RegisterSession)
        {
            if (reply.Status == KvStatus.Ok) (client.SessionId, client.LastSequence) = (reply.SessionId, 0);
            return;
        }
        switch (reply.Status)
        {
            case KvStatus.Ok:
                ClientChecks.OnWriteAcknowledged(op.Key, client.SessionId, op.Sequence, reply);
                client.LastSeen[op.Key] = op.Value;
                Record(client, op, op.Kind == ClientOpKind.Put ? OpKind.Put : OpKind.Cas, Outcome.Ok, op.Value, succeeded: true, note: $"node {response.NodeId} rev {reply.Version.ModIndex}");
                break;
            case KvStatus.CasFailed:
                string? current = reply.Value is { } bytes ? ValueText(bytes) : null;
                client.LastSeen[op.Key] = current;
                Record(client, op, OpKind.Cas, Outcome.Ok, op.Value, succeeded: false, current: current, note: $"node {response.NodeId}");
                break;
            case KvStatus.SessionExpired or KvStatus.UnknownSession:
                // An earlier attempt may have been applied before the session expired: the outcome is unknown.
                Record(client, op, op.Kind == ClientOpKind.Put ? OpKind.Put : OpKind.Cas, Outcome.Info, op.Value, note: $"node {response.NodeId}: {reply.Status}");
                client.SessionId = 0;
                ClientChecks.SessionsExpired++;
                break;
            default:
                _checker.Violation($"client {client.Id}: {op.Kind} {op.Key} sequence {op.Sequence} answered {reply.Status} {reply.Message} by node {response.NodeId}");
                break;
        }
    }

    private void Record(SimulatedClient client, ClientOp op, OpKind kind, Outcome outcome, string? value, bool succeeded = false, string? current = null, string? note = null)
    {
        ClientChecks.Record(new Operation
        {
            Id = _nextOperationId++, Process = client.Id, Key = op.Key, Kind = kind, Value = value, Expected = op.Expected,
            InvokeUs = op.InvokeMs * 1000, CompleteUs = outcome == Outcome.Info ? long.MaxValue : NowMs * 1000, Outcome = outcome,
            Succeeded = succeeded, Current = current, Note = note,
        });
    }

    /// <summary>After convergence: final reads of every key join the history, and lost writes are looked for.</summary>
    private void CheckClientHistory(SimulatedNode member)
    {
        for (int key = 0; key < _options.KeyCount; key++)
        {
            string name = $"k{key}";
            ClientChecks.Record(new Operation
            {
                Id = _nextOperationId++, Process = 0, Key = name, Kind = OpKind.Get, Value = ReadValue(member.StateMachine!, name),
                InvokeUs = NowMs * 1000, CompleteUs = NowMs * 1000, Outcome = Outcome.Ok, Note = "final state",
            });
        }
        ClientChecks.CheckFinalRecords(key => member.StateMachine!.Get(Bytes(key)));
        ClientChecks.CheckLinearizability(MaxLinearizabilityStatesPerKey);
    }

    private static string? ReadValue(MemoryKvStateMachine machine, string key) =>
        machine.Get(Bytes(key)) is { } entry ? ValueText(entry.Value) : null;

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A written value: the client's name for it, then padding that makes entries larger.</summary>
    private byte[] ValueBytes(string value) => Encoding.UTF8.GetBytes(value + "#" + new string('x', _options.CommandPaddingBytes));

    private static string ValueText(ReadOnlyMemory<byte> bytes)
    {
        string text = Encoding.UTF8.GetString(bytes.Span);
        int end = text.IndexOf('#', StringComparison.Ordinal);
        return end < 0 ? text : text[..end];
    }
}
