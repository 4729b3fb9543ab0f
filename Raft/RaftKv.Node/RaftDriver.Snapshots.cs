using RaftKv.Raft;
using RaftKv.StateMachine;
using RaftKv.Storage.Snapshots;

namespace RaftKv.Node;

public sealed partial class RaftDriver
{
    /// <summary>
    /// Log compaction: once the uncompacted log is large, capture a state machine image on this thread (cheap), write
    /// it to a new snapshot file on a background thread while applying goes on, then publish it and drop the log it
    /// covers back on this thread.
    /// </summary>
    private void MaybeStartSnapshot()
    {
        if (_snapshotInProgress || _raft.UncompactedLogBytes < _options.SnapshotThresholdBytes) return;
        ulong applied = _stateMachine.AppliedIndex;
        if (applied <= _raft.Status.SnapshotIndex) return;
        // A snapshot received from a leader but not installed (the core kept its log) can be ahead of what this node has
        // applied: one taken now would be dropped as older when written (FinishSnapshot), and taken again next step.
        if (applied <= (_storage.LatestSnapshot?.Index ?? 0)) return;

        SnapshotMetadata metadata = _raft.DescribeSnapshot(applied);
        IStateMachineSnapshot image = _stateMachine.TakeSnapshot();
        SnapshotWriter writer = _storage.Snapshots.BeginWrite(metadata);
        _snapshotInProgress = true;
        long snapshotStart = _time.GetTimestamp();
        // Off the driver's step: a thread-pool thread in a silo, a simulated event in the simulator.
        _seams.Background.Run(() =>
        {
            Exception? error = null;
            try
            {
                // The image writes record by record; buffer so the file sees large writes, not one syscall each.
                using var stream = new BufferedStream(new SnapshotWriterStream(writer), 1 << 20);
                image.WriteTo(stream);
                stream.Flush();
            }
            catch (Exception e)
            {
                error = e;
            }
            finally
            {
                image.Dispose();
            }
            if (error is null) _metrics.SnapshotWritten(_time.GetElapsedTime(snapshotStart), writer.LengthBytes);
            _inbox.Writer.TryWrite(new Input.SnapshotWritten(metadata, writer, error));
            if (error is null) CompactStoreLog();
        });
    }

    /// <summary>
    /// After a snapshot has measured the live data (and released its hold on the store's log), reclaim the store log's
    /// garbage if it dominates; on the same background thread, so the next snapshot normally finds it done (if not,
    /// the capture stops it after its current step).
    /// </summary>
    private void CompactStoreLog()
    {
        long start = _time.GetTimestamp();
        try
        {
            LogCompactionResult result = _stateMachine.CompactLog();
            if (!result.Compacted) return;
            NodeLog.StoreLogCompacted(_logger, _options.NodeId, result.LogBytesBefore >> 20, result.LogBytesAfter >> 20,
                (long)_time.GetElapsedTime(start).TotalMilliseconds, result.Reason);
        }
        catch (ObjectDisposedException)
        {
            // The node stopped meanwhile.
        }
        catch (Exception e)
        {
            NodeLog.StoreLogCompactionFailed(_logger, e, _options.NodeId);
        }
    }

    private void FinishSnapshot(Input.SnapshotWritten written)
    {
        _snapshotInProgress = false;
        if (written.Error is not null)
        {
            written.Writer.Dispose();
            throw new IOException($"writing snapshot {written.Metadata} failed", written.Error);
        }
        if (written.Metadata.Index <= (_storage.LatestSnapshot?.Index ?? 0))
        {
            written.Writer.Dispose(); // a newer snapshot arrived from the leader meanwhile
            return;
        }
        written.Writer.Commit();
        _storage.CompactToPublished(written.Metadata);
        _raft.CompactLog(written.Metadata);
        NodeLog.Compacted(_logger, _options.NodeId, written.Metadata.Index, _storage.SegmentCount);
    }

    /// <summary>Adapts a <see cref="SnapshotWriter"/> to the <see cref="Stream"/> the state machine writes to.</summary>
    private sealed class SnapshotWriterStream(SnapshotWriter writer) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => writer.LengthBytes;
        public override long Position { get => writer.LengthBytes; set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) => writer.Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) => writer.Write(buffer);
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
