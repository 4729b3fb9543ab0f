using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RaftKv.Raft;
using Wire = RaftKv.Mesh.Protos;

namespace RaftKv.Mesh;

public sealed partial class PeerMesh
{
    // Fixed per-message overhead in the batch size estimate (header fields, framing).
    private const int MessageOverheadBytes = 64;

    // Consecutive failed connection attempts (a few seconds of backoff) before an unreachable peer is reported at
    // Warning: long enough to stay quiet through a peer's restart, short enough that a wrong address (a port that
    // differs from the one the peer listens on) is reported while the cluster still tries to elect a leader.
    private const int UnreachableWarningFailures = 8;

    /// <summary>
    /// One peer's sender: opens a <c>Send</c> stream once there is something to send, writes every queued message in
    /// batches, and on any failure drops the batch in flight, closes the stream and reconnects after an exponential
    /// backoff with jitter. Ends when the mesh is disposed.
    /// </summary>
    private async Task RunSenderAsync(Peer peer, CancellationToken cancellationToken)
    {
        ChannelReaderShim reader = new(peer.Queue.Reader);
        int failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (!await reader.WaitAsync(cancellationToken).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            int inFlight = 0;
            try
            {
                using AsyncClientStreamingCall<Wire.MessageBatch, Empty> call = peer.Client.Send(cancellationToken: cancellationToken);
                Task<Empty> ended = call.ResponseAsync;
                // If a write fails first, the response fails too; nobody else will look at it.
                _ = ended.ContinueWith(static task => task.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                while (true)
                {
                    Task<bool> ready = reader.WaitAsync(cancellationToken);
                    if (await Task.WhenAny(ready, ended).ConfigureAwait(false) == ended)
                    {
                        // The peer ended the stream (shutdown, or it refused something): surface why and reconnect.
                        await ended.ConfigureAwait(false);
                        throw new IOException($"peer {peer.Id} closed the Send stream");
                    }
                    if (!await ready.ConfigureAwait(false))
                    {
                        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
                        return;
                    }
                    Wire.MessageBatch batch = CutBatch(peer);
                    inFlight = batch.Messages.Count;
                    await call.RequestStream.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
                    SentCounter.Add(inFlight);
                    inFlight = 0;
                    if (failures >= UnreachableWarningFailures) MeshLog.PeerReachable(_logger, peer.Id, peer.Channel.Target, failures);
                    failures = 0;
                }
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                CountDropped(inFlight);
                return;
            }
            catch (Exception exception)
            {
                CountDropped(inFlight);
                failures++;
                int delayMs = BackoffMs(failures);
                MeshLog.SendStreamFailed(_logger, peer.Id, failures, inFlight, delayMs, exception);
                if (failures == UnreachableWarningFailures) MeshLog.PeerUnreachable(_logger, peer.Id, peer.Channel.Target, failures, exception.Message);
                try
                {
                    await Task.Delay(delayMs, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Takes every queued message, up to the batch limits (at least one).</summary>
    private Wire.MessageBatch CutBatch(Peer peer)
    {
        var batch = new Wire.MessageBatch();
        long sizeBytes = 0;
        while (batch.Messages.Count < _options.MaxBatchMessages
            && sizeBytes < _options.MaxBatchSizeBytes
            && peer.Queue.Reader.TryRead(out Message? message))
        {
            batch.Messages.Add(RaftMessageCodec.ToProto(message));
            sizeBytes += MessageOverheadBytes;
            foreach (LogEntry entry in message.Entries)
            {
                sizeBytes += entry.SizeBytes;
            }
        }
        return batch;
    }

    /// <summary>Exponential backoff from the minimum, capped, with "equal jitter" (half fixed, half random).</summary>
    private int BackoffMs(int failures)
    {
        double exponential = _options.ReconnectBackoffMinMs * Math.Pow(2, Math.Min(failures - 1, 30));
        int capped = (int)Math.Min(exponential, _options.ReconnectBackoffMaxMs);
        int half = Math.Max(1, capped / 2);
        return half + Random.Shared.Next(half + 1);
    }

    /// <summary>
    /// Makes waiting for queued messages a <see cref="Task{Boolean}"/> that can be raced against the stream's end.
    /// A wait that loses the race is reused by the next call instead of being abandoned.
    /// </summary>
    private sealed class ChannelReaderShim(System.Threading.Channels.ChannelReader<Message> reader)
    {
        private Task<bool>? _pending;

        public Task<bool> WaitAsync(CancellationToken cancellationToken)
        {
            if (_pending is { IsCompleted: false } pending)
            {
                return pending;
            }
            _pending = reader.WaitToReadAsync(cancellationToken).AsTask();
            return _pending;
        }
    }
}
